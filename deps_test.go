package lbkit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCorePackagesFreeOfKubernetes enforces DESIGN.md's import direction:
// the packages other controllers embed never pull in k8s.io/* modules,
// directly or through a dependency.
func TestCorePackagesFreeOfKubernetes(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	for _, pkg := range []string{"allocator", "announce", "l2", "bgp", "membership"} {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "-test", "./"+pkg+"/...").CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "matched no packages") {
					t.Skipf("package %s does not exist yet", pkg)
				}
				t.Fatalf("go list %s: %v\n%s", pkg, err, out)
			}
			var bad []string
			for _, dep := range strings.Fields(string(out)) {
				if strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/") {
					bad = append(bad, dep)
				}
			}
			if len(bad) > 0 {
				t.Fatalf("%s depends on Kubernetes modules: %s", pkg, strings.Join(bad, ", "))
			}
			if !strings.Contains(string(out), "github.com/lbkit/lbkit/"+pkg) {
				t.Fatalf("package %s is missing (go list printed no such package):\n%s", pkg, out)
			}
		})
	}
}
