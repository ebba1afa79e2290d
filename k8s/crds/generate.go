package crds

// The tool version is pinned here and read by TestGeneratedUpToDate; change
// it in all three lines.
//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0 object paths=../api/v1beta1
//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0 object paths=../api/v1beta2
//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0 crd:crdVersions=v1 paths=../api/... output:crd:dir=.
