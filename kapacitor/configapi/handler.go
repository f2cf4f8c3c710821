package configapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// BasePath is where Kapacitor served its config API; the handler answers under it.
const BasePath = "/kapacitor/v1/config"

// Config is what a Handler serves.
type Config struct {
	// Base are the sections as configured, before any override: a Clone taken before the configuration
	// was initialised. SetBase replaces them when the configuration is read again.
	Base *Sections
	// Overrides are those in force, read from File at start.
	Overrides Overrides
	// File keeps the overrides (WriteFile).
	File string
	// Apply takes the overrides of an accepted change, all of them: its error, when the configuration they
	// make is not valid, is the answer (400), and the overrides stay as they were.
	Apply func(Overrides) error
	// ReadOnly, when set, is why changes are refused (403).
	ReadOnly error
}

// Handler serves Kapacitor's config API for the sections of its Config.
type Handler struct {
	cfg  Config
	base atomic.Pointer[Sections] // cfg.Base, then SetBase's

	mu        sync.Mutex // serialises changes, and guards overrides
	overrides Overrides
}

// New returns the handler of cfg.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, overrides: cfg.Overrides}
	h.base.Store(cfg.Base)
	return h
}

// SetBase makes base the sections as configured, those the overrides apply to: the configuration's file
// was read again, and runs (as Config's Base, a Clone taken before it was initialised). It may be called
// while Apply runs.
func (h *Handler) SetBase(base *Sections) { h.base.Store(base) }

type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

func self(parts ...string) link {
	href := path.Join(append([]string{BasePath}, parts...)...)
	if len(parts) == 2 && parts[1] == "" {
		href += "/"
	}
	return link{Rel: "self", Href: href}
}

type element struct {
	Link     link           `json:"link"`
	Options  map[string]any `json:"options"`
	Redacted []string       `json:"redacted"`
}

type section struct {
	Link     link      `json:"link"`
	Elements []element `json:"elements"`
}

type sections struct {
	Link     link               `json:"link"`
	Sections map[string]section `json:"sections"`
}

// httpError answers as Kapacitor's httpd.HttpError did: {"error": ...}, indented.
func httpError(w http.ResponseWriter, msg string, code int) {
	body, _ := json.MarshalIndent(struct {
		Error string `json:"error"`
	}{msg}, "", "    ")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP answers GET and POST under BasePath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sec, elem, hasSection, hasElement := fromPath(r.URL.Path)
	switch r.Method {
	case http.MethodGet:
		h.get(w, sec, elem, hasSection, hasElement)
		return
	case http.MethodPost:
		if !hasSection {
			break // as Kapacitor's router: POST is served under BasePath/ only
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameHost(origin, r.Host) {
			httpError(w, "a change from a page of another site ("+origin+") is refused", http.StatusForbidden)
			return
		}
		h.post(w, r, sec, elem, hasElement)
		return
	}
	httpError(w, "Not Found", http.StatusNotFound)
}

// sameHost tells whether a browser's Origin is the site the request went to: a page of another site may not
// change the configuration through a browser that can reach the API (cross-site request forgery).
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == host
}

// fromPath splits a path as Kapacitor did: section and element, and whether the path names them (an
// element is named by a path that ends in a / after its section).
func fromPath(p string) (sec, elem string, hasSection, hasElement bool) {
	rest, ok := strings.CutPrefix(p, BasePath+"/")
	if !ok {
		return "", "", false, false
	}
	switch parts := strings.Split(rest, "/"); len(parts) {
	case 1:
		sec = parts[0]
	case 2:
		sec, elem = parts[0], parts[1]
	}
	return sec, elem, true, elem != "" || sec != "" && strings.HasSuffix(p, "/")
}

// view returns the sections with the overrides in force.
func (h *Handler) view() (*Sections, error) {
	h.mu.Lock()
	o := h.overrides
	h.mu.Unlock()
	s := h.base.Load().Clone()
	if err := s.Override(o); err != nil {
		return nil, err
	}
	return s, nil
}

func (h *Handler) get(w http.ResponseWriter, sec, elem string, hasSection, hasElement bool) {
	s, err := h.view()
	if err != nil {
		httpError(w, "failed to resolve current config:"+err.Error(), http.StatusInternalServerError)
		return
	}
	if hasSection && sec == "" {
		httpError(w, "section not specified, do you have an extra trailing '/'?", http.StatusBadRequest)
		return
	}
	if !hasSection {
		all := sections{Link: self(), Sections: map[string]section{}}
		for _, name := range s.Names() {
			if v, ok := sectionOf(s, name); ok {
				all.Sections[name] = v
			}
		}
		answer(w, all)
		return
	}
	v, ok := sectionOf(s, sec)
	if !ok {
		httpError(w, "unknown section: "+sec, http.StatusNotFound)
		return
	}
	if !hasElement {
		answer(w, v)
		return
	}
	for _, e := range v.Elements {
		if e.Options[ElementKeys[sec]] == elem {
			answer(w, e)
			return
		}
	}
	httpError(w, fmt.Sprintf("unknown section/element: %s/%s", sec, elem), http.StatusNotFound)
}

// sectionOf returns a section as the API shows it. Kapacitor listed a section only while it had an
// element; so does this.
func sectionOf(s *Sections, name string) (section, bool) {
	if _, ok := ElementKeys[name]; !ok {
		return section{}, false
	}
	v := section{Link: self(name)}
	for _, e := range s.Elements(name) {
		v.Elements = append(v.Elements, element{Link: self(name, e.Key), Options: e.Options, Redacted: e.Redacted})
	}
	return v, len(v.Elements) > 0
}

// update is the body of a POST, as Kapacitor read it.
type update struct {
	Set    map[string]any `json:"set"`
	Delete []string       `json:"delete"`
	Add    map[string]any `json:"add"`
	Remove []string       `json:"remove"`
}

var validName = regexp.MustCompile(`^[-\w+]+$`)

// validate checks an update as Kapacitor's updateAction.Validate did.
func (u update) validate(sec, elem string, hasElement bool) error {
	switch {
	case !validName.MatchString(sec):
		return fmt.Errorf("invalid section name %q", sec)
	case elem != "" && !validName.MatchString(elem):
		return fmt.Errorf("invalid element name %q", elem)
	case (len(u.Set) > 0 || len(u.Delete) > 0) && (len(u.Add) > 0 || len(u.Remove) > 0):
		return errors.New("cannot provide both set/delete and add/remove actions in the same update")
	case len(u.Add) > 0 && elem != "":
		return errors.New("must not provide an element name when adding an a new override")
	case len(u.Remove) > 0 && elem != "":
		return errors.New("must not provide element when removing an override")
	case len(u.Remove) == 0 && len(u.Add) == 0 && !hasElement:
		return errors.New("element not specified, are you missing a trailing '/'?")
	}
	return nil
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request, sec, elem string, hasElement bool) {
	if h.cfg.ReadOnly != nil {
		httpError(w, h.cfg.ReadOnly.Error(), http.StatusForbidden)
		return
	}
	var u update
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	d.UseNumber()
	if err := d.Decode(&u); err != nil {
		httpError(w, "failed to decode JSON:"+err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next, err := h.updated(u, sec, elem, hasElement)
	if err != nil {
		httpError(w, "failed to apply update: "+err.Error(), http.StatusBadRequest)
		return
	}
	s := h.base.Load().Clone()
	if err := s.Override(next); err != nil {
		switch {
		case errors.Is(err, errNoSection): // kapacitord: 400, "unknown options [...] in section ..."
			httpError(w, "unknown section: "+sec, http.StatusNotFound)
		case errors.Is(err, errNoElement): // likewise
			httpError(w, fmt.Sprintf("unknown section/element: %s/%s", sec, elem), http.StatusNotFound)
		default:
			httpError(w, err.Error(), http.StatusBadRequest)
		}
		return
	}
	if err := h.cfg.Apply(next); err != nil {
		httpError(w, fmt.Sprintf("failed to override configuration %s/%s: failed validation: %v", sec, elem, err), http.StatusBadRequest)
		return
	}
	if err := WriteFile(h.cfg.File, next); err != nil {
		httpError(w, fmt.Sprintf("failed to save override %s/%s: %v", sec, elem, err), http.StatusInternalServerError)
		return
	}
	h.overrides = next
	w.WriteHeader(http.StatusNoContent)
}

// updated returns the overrides after an update, as Kapacitor's overridesForUpdateAction made them.
func (h *Handler) updated(u update, sec, elem string, hasElement bool) (Overrides, error) {
	if err := u.validate(sec, elem, hasElement); err != nil {
		return nil, fmt.Errorf("invalid update action: %w", err)
	}
	if len(u.Remove) > 0 {
		return h.overrides.without(sec, u.Remove), nil
	}
	o := Override{Section: sec, Element: elem, Options: map[string]any{}}
	if len(u.Add) > 0 {
		keyName, ok := ElementKeys[sec]
		if !ok {
			return nil, fmt.Errorf("unknown section %q", sec)
		}
		v, ok := u.Add[keyName]
		if !ok {
			return nil, fmt.Errorf("missing key %q in \"add\" map", keyName)
		}
		name, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("expected %q key to be a string, got %s", keyName, jsonKind(v))
		}
		if !validName.MatchString(name) { // Kapacitor took it, and its element's address was then no path
			return nil, fmt.Errorf("invalid element name %q", name)
		}
		o.Element, o.Create, o.Options = name, true, u.Add
		if h.overrides.find(sec, name) >= 0 { // kapacitord 1.5.9 meant this error, and panicked instead
			return nil, fmt.Errorf("cannot add new override, override already exists for %s/%s", sec, name)
		}
		return h.overrides.with(o), nil
	}
	if i := h.overrides.find(sec, elem); i >= 0 {
		o = h.overrides[i]
		o.Options = maps.Clone(o.Options)
	}
	maps.Copy(o.Options, u.Set)
	for _, k := range u.Delete {
		delete(o.Options, k)
	}
	return h.overrides.with(o), nil
}
