package deploy

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "copy k8s/crds/*.yaml over crds/")

const upstreamCRDs = "../../k8s/crds"

// TestCRDsMatchK8sCRDs fails when crds/ is not an exact copy of the
// generated CRDs in k8s/crds; `go test -run CRDs -update` refreshes it.
func TestCRDsMatchK8sCRDs(t *testing.T) {
	want, err := filepath.Glob(filepath.Join(upstreamCRDs, "*.yaml"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in %s: %v", upstreamCRDs, err)
	}
	if *update {
		old, _ := filepath.Glob("crds/*.yaml")
		for _, f := range old {
			os.Remove(f)
		}
		for _, f := range want {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("crds", filepath.Base(f)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wantNames []string
	for _, f := range want {
		wantNames = append(wantNames, filepath.Base(f))
		up, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := fs.ReadFile(Files, "crds/"+filepath.Base(f))
		if err != nil {
			t.Errorf("crds/%s is missing: run go test -run CRDs -update", filepath.Base(f))
			continue
		}
		if !bytes.Equal(up, cp) {
			t.Errorf("crds/%s differs from %s: run go test -run CRDs -update", filepath.Base(f), f)
		}
	}
	got, _ := fs.Glob(Files, "crds/*.yaml")
	for _, g := range got {
		if !slices.Contains(wantNames, filepath.Base(g)) {
			t.Errorf("%s is not in %s: remove it (or run go test -run CRDs -update)", g, upstreamCRDs)
		}
	}
}

// TestKustomizationListsEveryFile: what kubectl apply -k applies is what
// this directory holds, no more, no less.
func TestKustomizationListsEveryFile(t *testing.T) {
	listed, err := Resources()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "crds/*.yaml"} {
		m, _ := fs.Glob(Files, pat)
		files = append(files, m...)
	}
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(listed, f) {
			t.Errorf("%s is not listed in kustomization.yaml", f)
		}
	}
	for _, l := range listed {
		if !slices.Contains(files, l) {
			t.Errorf("kustomization.yaml lists %s, which does not exist", l)
		}
	}
	seen := map[string]bool{}
	for _, l := range listed {
		if seen[l] {
			t.Errorf("kustomization.yaml lists %s twice", l)
		}
		seen[l] = true
	}
}

// objects decodes every manifest.
func objects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	docs, err := Documents()
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, d := range docs {
		var m map[string]any
		if err := yaml.UnmarshalStrict(d, &m); err != nil {
			t.Fatalf("%v:\n%s", err, d)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

var clusterScoped = []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}

func TestDocuments(t *testing.T) {
	objs := objects(t)
	if len(objs) < 20 {
		t.Fatalf("%d objects, want at least 20", len(objs))
	}
	seen := map[string]bool{}
	for _, o := range objs {
		id := o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			t.Errorf("%s: apiVersion, kind and metadata.name are required", id)
		}
		if seen[id] {
			t.Errorf("%s appears twice", id)
		}
		seen[id] = true
		if slices.Contains(clusterScoped, o.GetKind()) {
			if o.GetNamespace() != "" {
				t.Errorf("%s: cluster-scoped object with a namespace", id)
			}
		} else if o.GetNamespace() != "metallb-system" {
			t.Errorf("%s: namespace %q, want metallb-system", id, o.GetNamespace())
		}
	}
}

func find(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objects(t) {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

func container(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("%s: %d containers, want 1", o.GetName(), len(cs))
	}
	return cs[0].(map[string]any)
}

func strs(t *testing.T, m map[string]any, path ...string) []string {
	t.Helper()
	s, _, err := unstructured.NestedStringSlice(m, path...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSpeakerDaemonSet pins the parts of the DaemonSet the speaker cannot
// work without, and its privilege: NET_RAW and NET_ADMIN, nothing else.
func TestSpeakerDaemonSet(t *testing.T) {
	ds := find(t, "DaemonSet", "lbkit-speaker")
	if hn, _, _ := unstructured.NestedBool(ds.Object, "spec", "template", "spec", "hostNetwork"); !hn {
		t.Error("hostNetwork is not true")
	}
	c := container(t, ds)
	if got := strs(t, c, "securityContext", "capabilities", "add"); !slices.Equal(got, []string{"NET_RAW", "NET_ADMIN"}) {
		t.Errorf("capabilities.add = %v, want [NET_RAW NET_ADMIN]", got)
	}
	if got := strs(t, c, "securityContext", "capabilities", "drop"); !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", got)
	}
	if p, found, _ := unstructured.NestedBool(c, "securityContext", "privileged"); found && p {
		t.Error("speaker is privileged")
	}
	env, _, _ := unstructured.NestedSlice(c, "env")
	var nodeName bool
	for _, e := range env {
		m := e.(map[string]any)
		if m["name"] == "NODE_NAME" {
			p, _, _ := unstructured.NestedString(m, "valueFrom", "fieldRef", "fieldPath")
			nodeName = p == "spec.nodeName"
		}
	}
	if !nodeName {
		t.Error("NODE_NAME does not come from spec.nodeName")
	}
	args := strs(t, c, "args")
	if args[0] != "speaker" || !slices.Contains(args, "--ml-secret-file=/etc/lbkit/memberlist/secretkey") {
		t.Errorf("args = %v", args)
	}
	vols, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "volumes")
	var secret string
	for _, v := range vols {
		secret, _, _ = unstructured.NestedString(v.(map[string]any), "secret", "secretName")
	}
	if secret != "memberlist" {
		t.Errorf("memberlist secret volume: %q", secret)
	}
	find(t, "Secret", "memberlist")
}

func TestControllerDeployment(t *testing.T) {
	d := find(t, "Deployment", "lbkit-controller")
	c := container(t, d)
	if got := strs(t, c, "securityContext", "capabilities", "drop"); !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", got)
	}
	if add := strs(t, c, "securityContext", "capabilities", "add"); len(add) > 0 {
		t.Errorf("controller adds capabilities %v", add)
	}
	if nr, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !nr {
		t.Error("controller does not run as non-root")
	}
	if args := strs(t, c, "args"); args[0] != "controller" {
		t.Errorf("args = %v", args)
	}
}

// TestKustomizeBuild runs `kubectl kustomize` when kubectl is installed:
// the kustomization must build, into as many objects as the files hold.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", ".").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	n := 0
	for _, doc := range splitYAML(string(out)) {
		if strings.Contains(doc, "kind:") {
			n++
		}
	}
	if want := len(objects(t)); n != want {
		t.Errorf("kustomize built %d objects, want %d", n, want)
	}
}
