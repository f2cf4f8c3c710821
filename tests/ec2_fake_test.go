package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// ec2FakeInstance is one instance of the fake EC2 API, in the Query API's XML (an item of instancesSet).
type ec2FakeInstance struct {
	ID      string `xml:"instanceId"`
	ImageID string `xml:"imageId"`
	State   struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNS   string            `xml:"privateDnsName"`
	Type         string            `xml:"instanceType"`
	AZ           string            `xml:"placement>availabilityZone"`
	SubnetID     string            `xml:"subnetId"`
	VPCID        string            `xml:"vpcId"`
	PrivateIP    string            `xml:"privateIpAddress"`
	Architecture string            `xml:"architecture"`
	Interfaces   []ec2FakeSubnet   `xml:"networkInterfaceSet>item"`
	Tags         []ec2FakeTag      `xml:"tagSet>item"`
	Owner        string            `xml:"-"` // the reservation's
	TagMap       map[string]string `xml:"-"`
}

type ec2FakeSubnet struct {
	SubnetID string `xml:"subnetId"`
}

type ec2FakeTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// newEC2FakeInstance describes a running instance in subnet-1 of vpc-1, zone us-east-1a.
func newEC2FakeInstance(id, ip string, tags map[string]string) ec2FakeInstance {
	i := ec2FakeInstance{
		ID: id, ImageID: "ami-0abc", PrivateDNS: "ip-" + strings.ReplaceAll(ip, ".", "-") + ".ec2.internal",
		Type: "t3.micro", AZ: "us-east-1a", SubnetID: "subnet-1", VPCID: "vpc-1", PrivateIP: ip,
		Architecture: "x86_64", Interfaces: []ec2FakeSubnet{{"subnet-1"}}, Owner: "123456789012", TagMap: tags,
	}
	i.State.Code, i.State.Name = 16, "running"
	for k, v := range tags {
		i.Tags = append(i.Tags, ec2FakeTag{k, v})
	}
	return i
}

// ec2Fake is the EC2 Query API (form POSTs, XML answers) for DescribeInstances, paged by NextToken one
// reservation a page, and DescribeAvailabilityZones. It honours tag:KEY filters.
type ec2Fake struct {
	cloudFakeState
	instances []ec2FakeInstance
	// credentials are the only ones the fake accepts: every request's SigV4 signature is checked against
	// them (the zero value stands for ec2FakeCredentials).
	credentials aws.Credentials
}

// ec2FakeCredentials are the credentials the fake accepts unless told otherwise.
var ec2FakeCredentials = aws.Credentials{AccessKeyID: "AKIDFAKEEXAMPLE", SecretAccessKey: "fake-secret"}

// set replaces the instances (the test runs this fake in its own process).
func (f *ec2Fake) set(instances ...ec2FakeInstance) {
	f.mu.Lock()
	f.instances = instances
	f.mu.Unlock()
}

func (f *ec2Fake) setFailing(failing bool) {
	f.mu.Lock()
	f.failing = failing
	f.mu.Unlock()
}

func (f *ec2Fake) snapshot() cloudFakeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats()
}

const ec2FakeNamespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

func (f *ec2Fake) API() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || r.Method != http.MethodPost || r.ParseForm() != nil {
			ec2FakeError(w, http.StatusBadRequest, "InvalidAction", "the Query API takes form POSTs")
			return
		}
		action := r.PostForm.Get("Action")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.count(action)
		f.see("authorization", r.Header.Get("Authorization"))
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
			f.count("AuthFailure")
			ec2FakeError(w, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
			return
		}
		if code, message := f.verifySignature(r, body); code != "" {
			f.count(code)
			ec2FakeError(w, http.StatusForbidden, code, message)
			return
		}
		if f.failing {
			f.count("failed")
			ec2FakeError(w, http.StatusInternalServerError, "InternalError", "An internal error has occurred")
			return
		}
		switch action {
		case "DescribeAvailabilityZones":
			ec2FakeXML(w, struct {
				XMLName xml.Name `xml:"DescribeAvailabilityZonesResponse"`
				Xmlns   string   `xml:"xmlns,attr"`
				Zones   []struct {
					Name string `xml:"zoneName"`
					ID   string `xml:"zoneId"`
				} `xml:"availabilityZoneInfo>item"`
			}{Xmlns: ec2FakeNamespace, Zones: []struct {
				Name string `xml:"zoneName"`
				ID   string `xml:"zoneId"`
			}{{"us-east-1a", "use1-az4"}, {"us-east-1b", "use1-az6"}}})
		case "DescribeInstances":
			f.describeInstances(w, r)
		default:
			ec2FakeError(w, http.StatusBadRequest, "InvalidAction", "The action "+action+" is not valid for this web service.")
		}
	})
}

var ec2FakeAuthorization = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/([^/,]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$`)

// verifySignature re-signs a copy of the request with the AWS SDK's own SigV4 signer and the credentials
// the fake accepts, over the headers the request says it signed, at the time it says it was signed, and
// compares the Authorization headers. It answers an AWS error code and message, or "" if the signature
// holds.
func (f *ec2Fake) verifySignature(r *http.Request, body []byte) (code, message string) {
	creds := f.credentials
	if creds.AccessKeyID == "" {
		creds = ec2FakeCredentials
	}
	got := r.Header.Get("Authorization")
	m := ec2FakeAuthorization.FindStringSubmatch(got)
	if m == nil {
		return "IncompleteSignature", "malformed Authorization header: " + got
	}
	if m[1] != creds.AccessKeyID {
		return "AuthFailure", "AWS was not able to validate the provided access credentials"
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || signedAt.Format("20060102") != m[2] {
		return "IncompleteSignature", "X-Amz-Date is missing or does not match the credential scope"
	}
	signed := map[string]bool{}
	for _, h := range strings.Split(m[5], ";") {
		signed[h] = true
	}
	if !signed["host"] || !signed["x-amz-date"] {
		return "IncompleteSignature", "host and x-amz-date must be signed"
	}
	again, err := http.NewRequest(r.Method, r.URL.String(), bytes.NewReader(body))
	if err != nil {
		return "InternalError", err.Error()
	}
	again.Host = r.Host
	// The signer signs content-length from ContentLength, host from Host, and every other header it is
	// given that it does not ignore: give it exactly the ones the request signed.
	if !signed["content-length"] {
		again.ContentLength = 0
	}
	for k, v := range r.Header {
		if lk := strings.ToLower(k); signed[lk] && lk != "host" && lk != "content-length" {
			again.Header[k] = v
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), m[4], m[3], signedAt); err != nil {
		return "InternalError", err.Error()
	}
	if again.Header.Get("Authorization") != got {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return "", ""
}

var ec2FakeFilterName = regexp.MustCompile(`^Filter\.(\d+)\.Name$`)

func (f *ec2Fake) describeInstances(w http.ResponseWriter, r *http.Request) {
	matching := f.instances
	for key, names := range r.PostForm {
		m := ec2FakeFilterName.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		tag, ok := strings.CutPrefix(names[0], "tag:")
		if !ok {
			ec2FakeError(w, http.StatusBadRequest, "InvalidParameterValue", "the fake knows tag: filters only")
			return
		}
		var values []string
		for j := 1; r.PostForm.Has(fmt.Sprintf("Filter.%s.Value.%d", m[1], j)); j++ {
			values = append(values, r.PostForm.Get(fmt.Sprintf("Filter.%s.Value.%d", m[1], j)))
		}
		f.see("filter", names[0]+"="+strings.Join(values, ","))
		var kept []ec2FakeInstance
		for _, i := range matching {
			for _, v := range values {
				if i.TagMap[tag] == v {
					kept = append(kept, i)
					break
				}
			}
		}
		matching = kept
	}
	page := 0
	if token := r.PostForm.Get("NextToken"); token != "" {
		var err error
		if page, err = strconv.Atoi(strings.TrimPrefix(token, "page-")); err != nil || page >= len(matching) {
			ec2FakeError(w, http.StatusBadRequest, "InvalidParameterValue", "invalid NextToken")
			return
		}
		f.count("DescribeInstances.next")
	}
	type reservation struct {
		ID        string            `xml:"reservationId"`
		Owner     string            `xml:"ownerId"`
		Instances []ec2FakeInstance `xml:"instancesSet>item"`
	}
	resp := struct {
		XMLName      xml.Name      `xml:"DescribeInstancesResponse"`
		Xmlns        string        `xml:"xmlns,attr"`
		RequestID    string        `xml:"requestId"`
		Reservations []reservation `xml:"reservationSet>item"`
		NextToken    string        `xml:"nextToken,omitempty"`
	}{Xmlns: ec2FakeNamespace, RequestID: "ec2-fake"}
	if page < len(matching) {
		i := matching[page]
		resp.Reservations = []reservation{{ID: "r-" + i.ID, Owner: i.Owner, Instances: []ec2FakeInstance{i}}}
	}
	if page+1 < len(matching) {
		resp.NextToken = fmt.Sprintf("page-%d", page+1)
	}
	ec2FakeXML(w, resp)
}

func ec2FakeXML(w http.ResponseWriter, v any) {
	data, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write(append([]byte(xml.Header), data...))
}

// ec2FakeError answers as EC2 does; the request id is fixed so that repeated failures read the same.
func ec2FakeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName   xml.Name `xml:"Response"`
		Code      string   `xml:"Errors>Error>Code"`
		Message   string   `xml:"Errors>Error>Message"`
		RequestID string   `xml:"RequestID"`
	}{Code: code, Message: message, RequestID: "ec2-fake"})
}
