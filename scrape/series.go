package scrape

import (
	"bytes"
	"math"
	"strconv"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// seriesLabels reads the labels of a text or OpenMetrics series, `name{a="1",b="2"}`, from the bytes the
// parser's Series() returns, into ls. textparse's own Labels() allocates twice for every sample; this
// allocates nothing: names and values point into the body (or, when a value has escapes, into unescaped),
// valid until the body changes.
//
// The parser's lexer has already validated the series, so this only splits it. It declines (false) what it
// does not handle, quoted UTF-8 names, and the caller falls back to Labels(). Like Labels(), it writes the
// le of a histogram and the quantile of a summary in OpenMetrics' float form ("1" becomes "1.0").
func seriesLabels(series []byte, family model.MetricType, ls *[]labels.Label, unescaped *[]byte) bool {
	// Unescaped and normalised values go into one buffer; it is sized so that appends never move it under
	// the strings already taken from it.
	if need := 2*len(series) + 64; cap(*unescaped) < need {
		*unescaped = make([]byte, 0, need)
	}
	*unescaped = (*unescaped)[:0]
	name, rest, hasLabels := bytes.Cut(series, []byte{'{'})
	name = bytes.TrimRight(name, " \t")
	if len(name) == 0 || name[0] == '"' {
		return false
	}
	*ls = append((*ls)[:0], labels.Label{Name: model.MetricNameLabel, Value: yolo(name)})
	if !hasLabels {
		return true
	}
	for {
		rest = bytes.TrimLeft(rest, " \t,")
		if len(rest) == 0 {
			return false
		}
		if rest[0] == '}' {
			sortLabels(*ls)
			return true
		}
		if rest[0] == '"' {
			return false
		}
		eq := bytes.IndexByte(rest, '=')
		if eq < 0 {
			return false
		}
		label := bytes.TrimRight(rest[:eq], " \t")
		rest = bytes.TrimLeft(rest[eq+1:], " \t")
		if len(rest) == 0 || rest[0] != '"' {
			return false
		}
		value, n, ok := labelValue(rest[1:], unescaped)
		if !ok {
			return false
		}
		if (family == model.MetricTypeHistogram && string(label) == model.BucketLabel) ||
			(family == model.MetricTypeSummary && string(label) == model.QuantileLabel) {
			value = openMetricsFloat(value, unescaped)
		}
		*ls = append(*ls, labels.Label{Name: yolo(label), Value: value})
		rest = rest[1+n+1:]
	}
}

// labelValue reads a quoted label value up to its closing quote, undoing the exposition formats' escapes
// (\\, \" and \n; any other backslash stays, as textparse leaves it). n is the length of the quoted text.
func labelValue(b []byte, unescaped *[]byte) (value string, n int, ok bool) {
	end := -1
	escaped := false
	for i, c := range b {
		if c == '\\' {
			escaped = true
			continue
		}
		if c == '"' && !isEscapedQuote(b, i) {
			end = i
			break
		}
	}
	if end < 0 {
		return "", 0, false
	}
	if !escaped {
		return yolo(b[:end]), end, true
	}
	start := len(*unescaped)
	for i := 0; i < end; i++ {
		c := b[i]
		if c == '\\' && i+1 < end {
			switch b[i+1] {
			case '\\', '"':
				c = b[i+1]
				i++
			case 'n':
				c = '\n'
				i++
			}
		}
		*unescaped = append(*unescaped, c)
	}
	return yolo((*unescaped)[start:]), end, true
}

// openMetricsFloat writes a float label value as labels.FormatOpenMetricsFloat does, into buf; a value
// that is no float stays as it is.
func openMetricsFloat(v string, buf *[]byte) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	start := len(*buf)
	*buf = strconv.AppendFloat(*buf, f, 'g', -1, 64)
	if !bytes.ContainsAny((*buf)[start:], "e.") {
		*buf = append(*buf, '.', '0')
	}
	return yolo((*buf)[start:])
}

// isEscapedQuote tells whether the quote at b[i] is preceded by an odd number of backslashes.
func isEscapedQuote(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// yolo views bytes as a string without copying; the string is only valid while the bytes are unchanged.
func yolo(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
