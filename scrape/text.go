package scrape

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

// The text format (text/plain; version=0.0.4) in one pass: what nearly every exporter writes. textparse's
// lexer looks at each byte through a generated state machine, and its series must then be split again
// into labels; here each line is split once, straight into the labels builder. It reads a strict subset of
// what textparse.PromParser accepts, and for that subset yields exactly what PromParser and Labels() yield.
// A line outside it (quoted UTF-8 names, unusual spacing, anything PromParser would reject) makes
// textLine or metaLine decline, and the caller parses the whole body again with textparse, which then has
// the last word, errors included. FuzzTextMatchesTextparse holds the two to the same output.

// metaLine reads a line that starts with '#'. For a TYPE line it returns the family's name and type; for
// HELP and other comments, typ is false. ok is false when the line is not in the subset.
func metaLine(line []byte) (name []byte, mtype model.MetricType, typ, ok bool) {
	isHelp, isType := bytes.HasPrefix(line, []byte("# HELP ")), bytes.HasPrefix(line, []byte("# TYPE "))
	if !isHelp && !isType {
		// A comment, unless it is a HELP or TYPE line spaced in some other way.
		rest := bytes.TrimLeft(line[1:], " \t")
		if len(rest) < len(line)-1 && len(rest) > 4 && (bytes.HasPrefix(rest, []byte("HELP")) || bytes.HasPrefix(rest, []byte("TYPE"))) &&
			(rest[4] == ' ' || rest[4] == '\t') {
			return nil, "", false, false
		}
		return nil, "", false, true
	}
	rest := line[len("# HELP "):]
	n := nameLen(rest, true)
	if n == 0 {
		return nil, "", false, false
	}
	name, rest = rest[:n], rest[n:]
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return nil, "", false, false
		}
		rest = rest[1:]
	}
	if isHelp {
		return nil, "", false, utf8.Valid(rest)
	}
	switch string(rest) {
	case "counter":
		mtype = model.MetricTypeCounter
	case "gauge":
		mtype = model.MetricTypeGauge
	case "histogram":
		mtype = model.MetricTypeHistogram
	case "summary":
		mtype = model.MetricTypeSummary
	case "untyped":
		mtype = model.MetricTypeUnknown
	default:
		return nil, "", false, false
	}
	return name, mtype, true, true
}

// textLine reads a series line, `name{a="1",b="2"} value [timestamp]`, into ls (sorted; names and values
// point into the line or into unescaped) and returns its value and timestamp. family is the type of the
// last TYPE line, which decides, as in textparse, whether le and quantile values are normalised.
func textLine(line []byte, family model.MetricType, ls *[]labels.Label, unescaped *[]byte) (v float64, ts int64, hasTS, ok bool) {
	n := nameLen(line, true)
	if n == 0 {
		return 0, 0, false, false
	}
	if need := 2*len(line) + 64; cap(*unescaped) < need {
		*unescaped = make([]byte, 0, need)
	}
	*unescaped = (*unescaped)[:0]
	*ls = append((*ls)[:0], labels.Label{Name: model.MetricNameLabel, Value: yolo(line[:n])})
	i := n
	if i < len(line) && line[i] == '{' {
		i++
		for {
			i = skipBlanks(line, i)
			if i == len(line) {
				return 0, 0, false, false
			}
			if line[i] == '}' {
				i++
				break
			}
			n := nameLen(line[i:], false)
			if n == 0 {
				return 0, 0, false, false
			}
			label := yolo(line[i : i+n])
			i = skipBlanks(line, i+n)
			if i == len(line) || line[i] != '=' {
				return 0, 0, false, false
			}
			i = skipBlanks(line, i+1)
			if i == len(line) || line[i] != '"' {
				return 0, 0, false, false
			}
			value, n2, ok := labelValue(line[i+1:], unescaped)
			if !ok || !utf8.Valid(line[i+1:i+1+n2]) {
				return 0, 0, false, false
			}
			if (family == model.MetricTypeHistogram && label == model.BucketLabel) ||
				(family == model.MetricTypeSummary && label == model.QuantileLabel) {
				value = openMetricsFloat(value, unescaped)
			}
			*ls = append(*ls, labels.Label{Name: label, Value: value})
			if i = skipBlanks(line, i+1+n2+1); i < len(line) && line[i] == ',' {
				i++
			}
		}
		sortLabels(*ls)
	}
	// The value, after at least one blank: PromParser reads `a-1` as a with value -1, which is left to it.
	if i == len(line) || (line[i] != ' ' && line[i] != '\t') {
		return 0, 0, false, false
	}
	i = skipBlanks(line, i)
	end := tokenEnd(line, i)
	if end == i {
		return 0, 0, false, false
	}
	token := line[i:end]
	if bytes.ContainsAny(token, "pP_{") {
		return 0, 0, false, false
	}
	v, err := strconv.ParseFloat(yolo(token), 64)
	if err != nil {
		return 0, 0, false, false
	}
	if math.IsNaN(v) {
		v = math.Float64frombits(value.NormalNaN)
	}
	if i = skipBlanks(line, end); i == len(line) {
		return v, 0, false, true
	}
	end = tokenEnd(line, i)
	for _, c := range line[i:end] {
		if c < '0' || c > '9' {
			return 0, 0, false, false
		}
	}
	if ts, err = strconv.ParseInt(yolo(line[i:end]), 10, 64); err != nil || skipBlanks(line, end) != len(line) {
		return 0, 0, false, false
	}
	return v, ts, true, true
}

// nameLen is the length of the metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, without colons, of the label
// name at the start of b.
func nameLen(b []byte, colons bool) int {
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':' && colons:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return i
		}
	}
	return len(b)
}

func skipBlanks(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func tokenEnd(b []byte, i int) int {
	for i < len(b) && b[i] != ' ' && b[i] != '\t' {
		i++
	}
	return i
}
