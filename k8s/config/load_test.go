package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
)

// decode appends the objects of a (multi-document) YAML text to r.
func decode(r *Resources, data []byte) error {
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return err
		}
		var err error
		switch tm.APIVersion + "/" + tm.Kind {
		case "metallb.io/v1beta1/IPAddressPool":
			var o v1beta1.IPAddressPool
			err = yaml.UnmarshalStrict(doc, &o)
			r.Pools = append(r.Pools, o)
		case "metallb.io/v1beta1/L2Advertisement":
			var o v1beta1.L2Advertisement
			err = yaml.UnmarshalStrict(doc, &o)
			r.L2Advertisements = append(r.L2Advertisements, o)
		case "metallb.io/v1beta1/BGPAdvertisement":
			var o v1beta1.BGPAdvertisement
			err = yaml.UnmarshalStrict(doc, &o)
			r.BGPAdvertisements = append(r.BGPAdvertisements, o)
		case "metallb.io/v1beta2/BGPPeer":
			var o v1beta2.BGPPeer
			err = yaml.UnmarshalStrict(doc, &o)
			r.Peers = append(r.Peers, o)
		case "metallb.io/v1beta1/BFDProfile":
			var o v1beta1.BFDProfile
			err = yaml.UnmarshalStrict(doc, &o)
			r.BFDProfiles = append(r.BFDProfiles, o)
		case "metallb.io/v1beta1/Community":
			var o v1beta1.Community
			err = yaml.UnmarshalStrict(doc, &o)
			r.Communities = append(r.Communities, o)
		case "v1/Secret":
			var o corev1.Secret
			err = yaml.UnmarshalStrict(doc, &o)
			r.Secrets = append(r.Secrets, o)
		case "v1/Node":
			var o corev1.Node
			err = yaml.UnmarshalStrict(doc, &o)
			r.Nodes = append(r.Nodes, o)
		default:
			return fmt.Errorf("unexpected %s %s", tm.APIVersion, tm.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// load reads testdata files (relative to testdata/) and inline YAML texts
// (anything containing a newline) into one Resources.
func load(t *testing.T, sources ...string) Resources {
	t.Helper()
	var r Resources
	for _, s := range sources {
		data := []byte(s)
		if !bytes.ContainsRune(data, '\n') {
			var err error
			if data, err = os.ReadFile(filepath.Join("testdata", s)); err != nil {
				t.Fatal(err)
			}
		}
		if err := decode(&r, data); err != nil {
			t.Fatalf("%.40q: %v", s, err)
		}
	}
	return r
}
