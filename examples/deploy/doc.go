// Package deploy holds the Kubernetes manifests that run lbkit's
// reference binary (examples/lbkit): the metallb.io CRDs, least-privilege
// RBAC, the controller Deployment, the speaker DaemonSet, the memberlist
// Secret and a kustomization listing them all. Apply them with
// `kubectl apply -k examples/deploy`; see README.md.
//
// The package embeds the manifests (Files) so tests and the lab can apply
// exactly what a user would. crds/ is a checked copy of k8s/crds: kustomize
// cannot load files outside its root, and a test fails when they differ.
package deploy

import (
	"embed"
	"io/fs"
	"strings"

	"sigs.k8s.io/yaml"
)

// Files holds the manifests: kustomization.yaml, the *.yaml it lists, and
// crds/*.yaml.
//
//go:embed *.yaml crds/*.yaml
var Files embed.FS

// kustomization is the part of kustomization.yaml this package reads.
type kustomization struct {
	Resources []string `json:"resources"`
}

// Resources returns the files kustomization.yaml lists, in its order
// (the order to apply them in).
func Resources() ([]string, error) {
	b, err := Files.ReadFile("kustomization.yaml")
	if err != nil {
		return nil, err
	}
	var k kustomization
	if err := yaml.Unmarshal(b, &k); err != nil {
		return nil, err
	}
	return k.Resources, nil
}

// Documents returns the YAML documents of the listed files, in order,
// with empty documents dropped.
func Documents() ([][]byte, error) {
	names, err := Resources()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, n := range names {
		b, err := fs.ReadFile(Files, n)
		if err != nil {
			return nil, err
		}
		for _, doc := range splitYAML(string(b)) {
			out = append(out, []byte(doc))
		}
	}
	return out, nil
}

// splitYAML splits a multi-document YAML text on "---" lines.
func splitYAML(s string) []string {
	var docs []string
	var cur []string
	flush := func() {
		d := strings.Join(cur, "\n")
		if hasContent(d) {
			docs = append(docs, d+"\n")
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return docs
}

// hasContent reports whether a document has anything but comments and
// blank lines.
func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}
