package source

import (
	"context"
	"encoding/json"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/config"
)

// LabelComponentType and LabelNodeName label ConfigurationState objects,
// as MetalLB labels them.
const (
	LabelComponentType = "metallb.io/component-type"
	LabelNodeName      = "metallb.io/node-name"
)

// WriteState records in ConfigurationState ns/name whether a component
// accepted the configuration: result Valid, or Invalid with every error
// (the last good configuration then stays in force), plus a Valid
// condition. It creates the object, with labels, when it is missing.
func WriteState(ctx context.Context, dyn dynamic.Interface, ns, name string, labels map[string]string, errs config.Errors) error {
	res := dyn.Resource(v1beta1.ConfigurationStatesResource).Namespace(ns)
	if _, err := res.Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1beta1.SchemeGroupVersion.String(), "kind": "ConfigurationState",
			"metadata": map[string]any{"name": name, "namespace": ns},
		}}
		obj.SetLabels(labels)
		if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	result, summary := "Valid", ""
	cond := metav1.Condition{Type: "Valid", Status: metav1.ConditionTrue, Reason: "ConfigurationValid",
		Message: "the configuration is valid and in force", LastTransitionTime: metav1.Now()}
	if len(errs) > 0 {
		result = "Invalid"
		lines := make([]string, 0, len(errs))
		for _, e := range errs {
			lines = append(lines, e.Error())
		}
		summary = strings.Join(lines, "\n")
		cond.Status, cond.Reason = metav1.ConditionFalse, "ConfigurationInvalid"
		cond.Message = "the last good configuration stays in force: " + summary
	}
	patch, _ := json.Marshal(map[string]any{"status": map[string]any{
		"result": result, "errorSummary": summary, "conditions": []metav1.Condition{cond},
	}})
	_, err := res.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
