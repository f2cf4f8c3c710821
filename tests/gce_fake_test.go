package tests

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
)

func init() {
	childModes["gce-fake"] = func() { serveCloudFakeChild(newGCEFake()) }
}

// gceFakeInstance is one instance of the fake Compute API, in the API's JSON.
type gceFakeInstance struct {
	ID                string             `json:"id"` // a uint64 the API sends as a string
	Name              string             `json:"name"`
	Zone              string             `json:"zone"`
	Status            string             `json:"status"`
	MachineType       string             `json:"machineType"`
	NetworkInterfaces []gceFakeInterface `json:"networkInterfaces"`
	Tags              struct {
		Items []string `json:"items"`
	} `json:"tags"`
	Metadata struct {
		Items []gceFakeMetadata `json:"items"`
	} `json:"metadata"`
	Labels map[string]string `json:"labels"`
}

type gceFakeInterface struct {
	Name          string `json:"name"`
	Network       string `json:"network"`
	Subnetwork    string `json:"subnetwork"`
	NetworkIP     string `json:"networkIP"`
	AccessConfigs []struct {
		Type  string `json:"type"`
		NatIP string `json:"natIP"`
	} `json:"accessConfigs,omitempty"`
}

type gceFakeMetadata struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

const gceFakeAPI = "https://www.googleapis.com/compute/v1/projects/"

// newGCEFakeInstance describes a running e2-small instance with one interface (nic0) on the default
// network, network tags http and prom, and metadata role=frontend.
func newGCEFakeInstance(project, zone string, id int, name, ip string, labels map[string]string) gceFakeInstance {
	i := gceFakeInstance{
		ID:          strconv.Itoa(id),
		Name:        name,
		Zone:        gceFakeAPI + project + "/zones/" + zone,
		Status:      "RUNNING",
		MachineType: gceFakeAPI + project + "/zones/" + zone + "/machineTypes/e2-small",
		NetworkInterfaces: []gceFakeInterface{{
			Name: "nic0", NetworkIP: ip,
			Network:    gceFakeAPI + project + "/global/networks/default",
			Subnetwork: gceFakeAPI + project + "/regions/" + zone[:strings.LastIndex(zone, "-")] + "/subnetworks/default",
		}},
		Labels: labels,
	}
	i.Tags.Items = []string{"http", "prom"}
	i.Metadata.Items = []gceFakeMetadata{{"role", "frontend"}}
	return i
}

// gceFake is Google's OAuth token endpoint for service-account JWTs (oauth2.googleapis.com/token) and the
// Compute API's instances.list (compute.googleapis.com), paged by pageToken one instance a page. It checks
// the JWT against the service-account key in DP_GCE_FAKE_KEY and honours filters of the form
// labels.KEY = "VALUE".
type gceFake struct {
	cloudFakeState
	instances []gceFakeInstance
	key       gceFakeKey
}

// gceFakeKey is the part of a service-account key file the fake needs.
type gceFakeKey struct {
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
	public      *rsa.PublicKey
}

func newGCEFake() *gceFake {
	f := &gceFake{}
	data, err := os.ReadFile(os.Getenv("DP_GCE_FAKE_KEY"))
	if err == nil {
		err = json.Unmarshal(data, &f.key)
	}
	if err == nil {
		block, _ := pem.Decode([]byte(f.key.PrivateKey))
		if block == nil {
			err = errors.New("no PEM private key")
		} else {
			var key any
			if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				f.key.public = &key.(*rsa.PrivateKey).PublicKey
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gce fake: service-account key:", err)
		os.Exit(1)
	}
	return f
}

func (f *gceFake) State() *cloudFakeState { return &f.cloudFakeState }

func (f *gceFake) SetInstances(data []byte) error {
	var instances []gceFakeInstance
	if err := json.Unmarshal(data, &instances); err != nil {
		return err
	}
	f.mu.Lock()
	f.instances = instances
	f.mu.Unlock()
	return nil
}

const gceFakeToken = "gce-fake-access-token"

var (
	gceFakeList   = regexp.MustCompile(`^/compute/v1/projects/([^/]+)/zones/([^/]+)/instances$`)
	gceFakeFilter = regexp.MustCompile(`^\(?labels\.([a-z0-9_-]+)\s*=\s*"?([^"()]*)"?\)?$`)
)

func (f *gceFake) API() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case r.Host == "oauth2.googleapis.com" && r.Method == http.MethodPost && r.URL.Path == "/token":
			f.token(w, r)
		case r.Host == "compute.googleapis.com" && r.Method == http.MethodGet && gceFakeList.MatchString(r.URL.Path):
			f.list(w, r)
		default:
			gceFakeError(w, http.StatusNotFound, "notFound", "no such API: "+r.Method+" "+r.Host+r.URL.Path)
		}
	})
}

// token is the JWT-bearer grant (RFC 7523) a service-account key is exchanged with.
func (f *gceFake) token(w http.ResponseWriter, r *http.Request) {
	f.count("token")
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		gceFakeOAuthError(w, "unsupported_grant_type")
		return
	}
	claims, err := f.verify(r.PostForm.Get("assertion"))
	if err != nil {
		gceFakeOAuthError(w, "invalid_grant: "+err.Error())
		return
	}
	f.see("scope", claims.Scope)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": gceFakeToken, "token_type": "Bearer", "expires_in": 3600})
}

type gceFakeClaims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
}

// verify checks the assertion's RS256 signature against the service account's key, and its claims.
func (f *gceFake) verify(assertion string) (gceFakeClaims, error) {
	var claims gceFakeClaims
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return claims, errors.New("not a JWT")
	}
	signature, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return claims, err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.key.public, crypto.SHA256, digest[:], signature); err != nil {
		return claims, fmt.Errorf("signature: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(payload, &claims)
	}
	switch {
	case err != nil:
		return claims, err
	case claims.Iss != f.key.ClientEmail:
		return claims, fmt.Errorf("iss %q", claims.Iss)
	case claims.Aud != f.key.TokenURI:
		return claims, fmt.Errorf("aud %q", claims.Aud)
	}
	return claims, nil
}

func (f *gceFake) list(w http.ResponseWriter, r *http.Request) {
	f.count("instances.list")
	if r.Header.Get("Authorization") != "Bearer "+gceFakeToken {
		gceFakeError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials.")
		return
	}
	if f.failing {
		f.count("failed")
		gceFakeError(w, http.StatusServiceUnavailable, "backendError", "Backend Error")
		return
	}
	m := gceFakeList.FindStringSubmatch(r.URL.Path)
	zone := gceFakeAPI + m[1] + "/zones/" + m[2]
	var matching []gceFakeInstance
	for _, i := range f.instances {
		if i.Zone == zone {
			matching = append(matching, i)
		}
	}
	if filter := r.URL.Query().Get("filter"); filter != "" {
		f.see("filter", filter)
		fm := gceFakeFilter.FindStringSubmatch(strings.TrimSpace(filter))
		if fm == nil {
			gceFakeError(w, http.StatusBadRequest, "invalid", "Invalid value for field 'filter': '"+filter+"'.")
			return
		}
		var kept []gceFakeInstance
		for _, i := range matching {
			if i.Labels[fm[1]] == fm[2] {
				kept = append(kept, i)
			}
		}
		matching = kept
	}
	page := 0
	if token := r.URL.Query().Get("pageToken"); token != "" {
		var err error
		if page, err = strconv.Atoi(strings.TrimPrefix(token, "page-")); err != nil || page >= len(matching) {
			gceFakeError(w, http.StatusBadRequest, "invalid", "Invalid value for field 'pageToken'.")
			return
		}
		f.count("instances.list.next")
	}
	resp := map[string]any{"kind": "compute#instanceList", "id": "projects/" + m[1] + "/zones/" + m[2] + "/instances", "items": matching[page:min(page+1, len(matching))]}
	if page+1 < len(matching) {
		resp["nextPageToken"] = fmt.Sprintf("page-%d", page+1)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(resp)
}

// gceFakeError answers as Google's APIs do.
func gceFakeError(w http.ResponseWriter, status int, reason, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": message,
		"errors": []map[string]string{{"message": message, "domain": "global", "reason": reason}},
	}})
}

func gceFakeOAuthError(w http.ResponseWriter, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": description})
}
