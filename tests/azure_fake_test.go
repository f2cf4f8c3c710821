package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

func init() {
	childModes["azure-fake"] = func() { serveCloudFakeChild(&azureFake{}) }
}

// The one tenant, application and subscription the fake knows.
const (
	azureFakeTenant       = "11111111-2222-3333-4444-555555555555"
	azureFakeClientID     = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	azureFakeSecret       = "fake-client-secret"
	azureFakeSubscription = "99999999-8888-7777-6666-555555555555"
	azureFakeToken        = "azure-fake-access-token"
)

// azureFakeVM is one virtual machine of the fake, a standalone one or, with ScaleSet set, instance
// InstanceID of that scale set. It has one network interface, with one IP configuration.
type azureFakeVM struct {
	Name          string
	ResourceGroup string
	ScaleSet      string
	InstanceID    string
	PrivateIP     string
	PublicIP      string
	Tags          map[string]string
}

// ID is the machine's ARM resource id.
func (vm azureFakeVM) ID() string {
	group := "/subscriptions/" + azureFakeSubscription + "/resourceGroups/" + vm.ResourceGroup + "/providers/Microsoft.Compute/"
	if vm.ScaleSet != "" {
		return group + "virtualMachineScaleSets/" + vm.ScaleSet + "/virtualMachines/" + vm.InstanceID
	}
	return group + "virtualMachines/" + vm.Name
}

// nicID is the ARM resource id of the machine's network interface.
func (vm azureFakeVM) nicID() string {
	if vm.ScaleSet != "" {
		return vm.ID() + "/networkInterfaces/" + vm.ScaleSet + "-nic"
	}
	return "/subscriptions/" + azureFakeSubscription + "/resourceGroups/" + vm.ResourceGroup + "/providers/Microsoft.Network/networkInterfaces/" + vm.Name + "-nic"
}

// json is the machine as ARM lists it (a VirtualMachine or a VirtualMachineScaleSetVM).
func (vm azureFakeVM) json() map[string]any {
	out := map[string]any{
		"id": vm.ID(), "name": vm.Name, "type": "Microsoft.Compute/virtualMachines", "location": "westeurope", "tags": vm.Tags,
		"properties": map[string]any{
			"hardwareProfile": map[string]any{"vmSize": "Standard_B1s"},
			"storageProfile":  map[string]any{"osDisk": map[string]any{"osType": "Linux"}},
			"osProfile":       map[string]any{"computerName": vm.Name + "-host"},
			"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": vm.nicID(), "properties": map[string]any{"primary": true}}}},
		},
	}
	if vm.ScaleSet != "" {
		out["type"] = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
		out["instanceId"] = vm.InstanceID
	}
	return out
}

// nicJSON is the machine's network interface as ARM returns it with $expand=IPConfigurations/PublicIPAddress.
func (vm azureFakeVM) nicJSON() map[string]any {
	ip := map[string]any{"privateIPAddress": vm.PrivateIP, "privateIPAllocationMethod": "Dynamic", "primary": true}
	if vm.PublicIP != "" {
		ip["publicIPAddress"] = map[string]any{"id": vm.nicID() + "-ip", "properties": map[string]any{"ipAddress": vm.PublicIP}}
	}
	return map[string]any{
		"id": vm.nicID(), "name": vm.nicID()[strings.LastIndex(vm.nicID(), "/")+1:], "location": "westeurope",
		"properties": map[string]any{
			"primary":          true,
			"ipConfigurations": []any{map[string]any{"id": vm.nicID() + "/ipConfigurations/ipconfig1", "name": "ipconfig1", "properties": ip}},
		},
	}
}

// azureFake is Microsoft Entra ID's OpenID configuration and client-credentials token endpoint
// (login.microsoftonline.com) and the Azure Resource Manager calls Prometheus' discovery makes
// (management.azure.com): virtual machines and scale sets, per subscription or resource group, the
// machines of a scale set, and network interfaces. Lists page by nextLink, one item a page. ARM paths
// are case-insensitive, as ARM's are.
type azureFake struct {
	cloudFakeState
	vms []azureFakeVM
}

func (f *azureFake) State() *cloudFakeState { return &f.cloudFakeState }

func (f *azureFake) SetInstances(data []byte) error {
	var vms []azureFakeVM
	if err := json.Unmarshal(data, &vms); err != nil {
		return err
	}
	f.mu.Lock()
	f.vms = vms
	f.mu.Unlock()
	return nil
}

func (f *azureFake) API() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.Host {
		case "login.microsoftonline.com":
			f.login(w, r)
		case "management.azure.com":
			f.arm(w, r)
		default:
			azureFakeError(w, http.StatusNotFound, "NotFound", "no such host "+r.Host)
		}
	})
}

func (f *azureFake) login(w http.ResponseWriter, r *http.Request) {
	authority := "https://login.microsoftonline.com/" + azureFakeTenant
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/"+azureFakeTenant+"/v2.0/.well-known/openid-configuration":
		azureFakeJSON(w, map[string]any{
			"token_endpoint":         authority + "/oauth2/v2.0/token",
			"authorization_endpoint": authority + "/oauth2/v2.0/authorize",
			"issuer":                 authority + "/v2.0",
		})
	case r.Method == http.MethodPost && r.URL.Path == "/"+azureFakeTenant+"/oauth2/v2.0/token":
		f.count("token")
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("client_id") != azureFakeClientID || r.PostForm.Get("client_secret") != azureFakeSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
			return
		}
		f.see("scope", r.PostForm.Get("scope"))
		azureFakeJSON(w, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": azureFakeToken})
	default:
		azureFakeError(w, http.StatusNotFound, "NotFound", "no such endpoint "+r.Method+" "+r.URL.Path)
	}
}

func (f *azureFake) arm(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+azureFakeToken {
		azureFakeError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed.")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		azureFakeError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	}
	if f.failing {
		f.count("failed")
		// ARM's answer when a resource provider is unavailable; Retry-After keeps the SDK's retries short.
		w.Header().Set("Retry-After", "1")
		azureFakeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable. Please try again later.")
		return
	}
	p := strings.Split(strings.Trim(strings.ToLower(r.URL.Path), "/"), "/")
	if len(p) < 2 || p[0] != "subscriptions" || p[1] != azureFakeSubscription {
		azureFakeError(w, http.StatusNotFound, "SubscriptionNotFound", "The subscription could not be found.")
		return
	}
	p = p[2:]
	group := ""
	if len(p) >= 2 && p[0] == "resourcegroups" {
		group, p = p[1], p[2:]
	}
	path := strings.Join(p, "/")
	switch {
	case path == "providers/microsoft.compute/virtualmachines":
		f.count("virtualMachines")
		f.page(w, r, f.match(func(vm azureFakeVM) bool {
			return vm.ScaleSet == "" && (group == "" || strings.EqualFold(vm.ResourceGroup, group))
		}),
			func(vm azureFakeVM) any { return vm.json() })
	case path == "providers/microsoft.compute/virtualmachinescalesets":
		f.count("virtualMachineScaleSets")
		seen := map[string]bool{}
		sets := f.match(func(vm azureFakeVM) bool {
			key := vm.ResourceGroup + "/" + vm.ScaleSet
			ok := vm.ScaleSet != "" && !seen[key] && (group == "" || strings.EqualFold(vm.ResourceGroup, group))
			seen[key] = true
			return ok
		})
		f.page(w, r, sets, func(vm azureFakeVM) any {
			id, _, _ := strings.Cut(vm.ID(), "/virtualMachines/")
			return map[string]any{"id": id, "name": vm.ScaleSet, "type": "Microsoft.Compute/virtualMachineScaleSets", "location": "westeurope"}
		})
	case len(p) == 5 && strings.HasPrefix(path, "providers/microsoft.compute/virtualmachinescalesets/") && p[4] == "virtualmachines":
		f.count("scaleSetVMs")
		f.page(w, r, f.match(func(vm azureFakeVM) bool {
			return strings.EqualFold(vm.ResourceGroup, group) && strings.EqualFold(vm.ScaleSet, p[3])
		}),
			func(vm azureFakeVM) any { return vm.json() })
	case len(p) == 4 && strings.HasPrefix(path, "providers/microsoft.network/networkinterfaces/"),
		len(p) == 8 && strings.HasPrefix(path, "providers/microsoft.compute/virtualmachinescalesets/") && p[6] == "networkinterfaces":
		f.count("networkInterfaces")
		if r.URL.Query().Get("$expand") != "IPConfigurations/PublicIPAddress" {
			azureFakeError(w, http.StatusBadRequest, "InvalidExpand", "the fake serves NICs with their public IPs expanded only")
			return
		}
		for _, vm := range f.vms {
			if strings.EqualFold(vm.nicID(), r.URL.Path) {
				azureFakeJSON(w, vm.nicJSON())
				return
			}
		}
		azureFakeError(w, http.StatusNotFound, "NotFound", "The Resource '"+r.URL.Path+"' was not found.")
	default:
		azureFakeError(w, http.StatusNotFound, "InvalidResourceType", "The resource type could not be found in the namespace.")
	}
}

func (f *azureFake) match(keep func(azureFakeVM) bool) []azureFakeVM {
	var out []azureFakeVM
	for _, vm := range f.vms {
		if keep(vm) {
			out = append(out, vm)
		}
	}
	return out
}

// page answers one page of a list: the item at $skiptoken, and a nextLink while more remain.
func (f *azureFake) page(w http.ResponseWriter, r *http.Request, vms []azureFakeVM, item func(azureFakeVM) any) {
	page := 0
	if token := r.URL.Query().Get("$skiptoken"); token != "" {
		var err error
		if page, err = strconv.Atoi(token); err != nil || page >= len(vms) {
			azureFakeError(w, http.StatusBadRequest, "InvalidSkipToken", "invalid $skiptoken")
			return
		}
		f.count("next")
	}
	values := []any{}
	if page < len(vms) {
		values = append(values, item(vms[page]))
	}
	resp := map[string]any{"value": values}
	if page+1 < len(vms) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "$skiptoken": {strconv.Itoa(page + 1)}}
		resp["nextLink"] = "https://management.azure.com" + r.URL.Path + "?" + q.Encode()
	}
	azureFakeJSON(w, resp)
}

func azureFakeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

// azureFakeError answers as ARM does; the body is fixed, so repeated failures read the same.
func azureFakeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-failure-cause", "service")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
