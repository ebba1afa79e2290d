package crds

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestObjects(t *testing.T) {
	objs, err := Objects()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	want := []string{
		"bfdprofiles.metallb.io", "bgpadvertisements.metallb.io", "bgppeers.metallb.io",
		"communities.metallb.io", "configurationstates.metallb.io", "ipaddresspools.metallb.io",
		"l2advertisements.metallb.io", "servicebgpstatuses.metallb.io", "servicel2statuses.metallb.io",
	}
	if !sort.StringsAreSorted(names) || len(names) != len(want) {
		t.Fatalf("CRDs %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("CRDs %v, want %v", names, want)
		}
	}
	for _, o := range objs {
		if o.GetName() != "bgppeers.metallb.io" {
			continue
		}
		versions, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
		got := map[string][2]bool{}
		for _, v := range versions {
			m := v.(map[string]any)
			got[m["name"].(string)] = [2]bool{m["served"].(bool), m["storage"].(bool)}
		}
		if got["v1beta1"] != [2]bool{true, false} || got["v1beta2"] != [2]bool{true, true} {
			t.Errorf("BGPPeer versions (served, storage) = %v; want v1beta1 served, v1beta2 served+storage", got)
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "conversion"); found {
			t.Errorf("BGPPeer CRD has a conversion stanza; it must use the default (None)")
		}
	}
}

// TestGeneratedUpToDate runs the pinned controller-gen into a temporary
// directory and fails if the committed deepcopy code or CRDs differ.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating with controller-gen builds the tool (minutes on a cold cache); skipped in -short mode")
	}
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sigs\.k8s\.io/controller-tools/cmd/controller-gen@(v[0-9.]+)`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no pinned controller-gen version in generate.go")
	}
	tool := "sigs.k8s.io/controller-tools/cmd/controller-gen@" + string(m[1])
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..") // module root
	tmp := t.TempDir()
	runs := [][]string{
		{"object", "paths=./k8s/api/v1beta1", "output:object:dir=" + filepath.Join(tmp, "v1beta1")},
		{"object", "paths=./k8s/api/v1beta2", "output:object:dir=" + filepath.Join(tmp, "v1beta2")},
		{"crd:crdVersions=v1", "paths=./k8s/api/...", "output:crd:dir=" + filepath.Join(tmp, "crds")},
	}
	for _, args := range runs {
		cmd := exec.Command("go", append([]string{"run", tool}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", args, err, out)
		}
	}
	compare := func(generated, committed string) {
		t.Helper()
		g, err := os.ReadFile(generated)
		if err != nil {
			t.Fatal(err)
		}
		c, err := os.ReadFile(committed)
		if err != nil {
			t.Fatalf("%v (run `go generate ./k8s/...`)", err)
		}
		if !bytes.Equal(g, c) {
			t.Errorf("%s is stale: run `go generate ./k8s/...`", committed)
		}
	}
	for _, v := range []string{"v1beta1", "v1beta2"} {
		compare(filepath.Join(tmp, v, "zz_generated.deepcopy.go"), filepath.Join(root, "k8s", "api", v, "zz_generated.deepcopy.go"))
	}
	gen, _ := filepath.Glob(filepath.Join(tmp, "crds", "*.yaml"))
	committed, _ := filepath.Glob(filepath.Join(root, "k8s", "crds", "*.yaml"))
	if len(gen) != len(committed) {
		t.Errorf("controller-gen writes %d CRDs, %d are committed", len(gen), len(committed))
	}
	for _, g := range gen {
		compare(g, filepath.Join(root, "k8s", "crds", filepath.Base(g)))
	}
}
