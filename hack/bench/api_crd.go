package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// setupCRD serves the same schema as a CustomResourceDefinition (our OpenAPI v3
// schema of GitTarget, inlined; a status subresource; the same printer
// columns) and copies every GitTarget, spec and status, into it.
func (p *apiPhase) setupCRD(ctx context.Context) error {
	schemaProps, err := p.targetSchema(ctx)
	if err != nil {
		return err
	}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := p.dyn.Resource(crdRes).Create(ctx, crdOf(schemaProps), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the CRD: %w", err)
	}
	if err := poll(ctx, 60*time.Second, func() error {
		_, err := p.dyn.Resource(crdGVR).Namespace(apiNamespace).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}); err != nil {
		return fmt.Errorf("CRD not served: %w", err)
	}
	ours, err := p.copyToCRD(ctx)
	if err != nil {
		return err
	}
	return p.stripManagedFields(ctx, ours)
}

// targetSchema is our OpenAPI v3 schema of GitTarget, inlined into the
// structural schema a CRD takes.
func (p *apiPhase) targetSchema(ctx context.Context) (map[string]any, error) {
	b, err := rawClient(p.direct).Get().AbsPath("/openapi/v3/apis/configbutler.ai/v1alpha1").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("our OpenAPI v3: %w", err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	var root map[string]any
	for name, s := range doc.Components.Schemas {
		if strings.HasSuffix(name, ".v1alpha1.GitTarget") {
			root = s
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no GitTarget schema in our OpenAPI v3")
	}
	schemaProps := inlineSchema(root, doc.Components.Schemas, 0)
	props := schemaProps["properties"].(map[string]any)
	props["metadata"] = map[string]any{"type": "object"}
	return schemaProps, nil
}

// crdOf is the CustomResourceDefinition of GitTargets in crdGroup with the
// schema schemaProps, a status subresource and our printer columns.
func crdOf(schemaProps map[string]any) *unstructured.Unstructured {
	col := func(name, typ, path, desc string, prio int) map[string]any {
		return map[string]any{"name": name, "type": typ, "jsonPath": path, "description": desc, "priority": prio}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "gittargets." + crdGroup},
		"spec": map[string]any{
			"group": crdGroup,
			"names": map[string]any{"kind": "GitTarget", "listKind": "GitTargetList", "plural": "gittargets", "singular": "gittarget"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1alpha1", "served": true, "storage": true,
				"schema":       map[string]any{"openAPIV3Schema": schemaProps},
				"subresources": map[string]any{"status": map[string]any{}},
				"additionalPrinterColumns": []any{
					col("Provider", "string", ".spec.providerRef.name", "GitProvider", 0),
					col("Branch", "string", ".spec.branch", "branch", 0),
					col("Path", "string", ".spec.path", "path", 0),
					col("Ready", "string", `.status.conditions[?(@.type=="Ready")].status`, "Ready", 0),
					col("Reason", "string", `.status.conditions[?(@.type=="Ready")].reason`, "reason", 0),
					col("Last Commit", "string", ".status.lastCommit", "last commit", 0),
					col("Age", "date", ".metadata.creationTimestamp", "age", 0),
					col("Gate", "string", `.status.conditions[?(@.type=="Ready")].message`, "blocking gate", 1),
				},
			}},
		},
	}}
}

// copyToCRD creates a custom resource of every GitTarget, its status
// included, and returns our GitTargets.
func (p *apiPhase) copyToCRD(ctx context.Context) (*v1alpha1.GitTargetList, error) {
	ours, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = parallel(len(ours.Items), 16, func(i int) error {
		t := ours.Items[i]
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&t)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetAPIVersion(crdGroup + "/v1alpha1")
		u.SetKind("GitTarget")
		status := obj["status"]
		u.SetResourceVersion("")
		u.SetUID("")
		u.SetCreationTimestamp(metav1.Time{})
		u.SetManagedFields(nil)
		u.SetGeneration(0)
		delete(obj, "status")
		got, err := p.dyn.Resource(crdGVR).Namespace(apiNamespace).Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = p.dyn.Resource(crdGVR).Namespace(apiNamespace).Get(ctx, u.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		got.Object["status"] = status
		_, err = p.dyn.Resource(crdGVR).Namespace(apiNamespace).UpdateStatus(ctx, got, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating custom resources: %w", err)
	}
	p.res.note("created %d custom resources with status in %s (16 clients)", len(ours.Items), time.Since(start).Round(time.Millisecond))
	return ours, nil
}

// stripManagedFields makes the objects the same on both sides: our status is
// written by the server itself, not through a field manager, so
// managedFields differ; strip them on both sides ("managedFields: [{}]"
// resets them). It notes the size of one object as JSON on each.
func (p *apiPhase) stripManagedFields(ctx context.Context, ours *v1alpha1.GitTargetList) error {
	strip := []byte(`{"metadata":{"managedFields":[{}]}}`)
	if err := parallel(len(ours.Items), 16, func(i int) error {
		name := ours.Items[i].Name
		if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).Patch(ctx, name, types.MergePatchType, strip, metav1.PatchOptions{}); err != nil {
			return err
		}
		_, err := p.dyn.Resource(crdGVR).Namespace(apiNamespace).Patch(ctx, name, types.MergePatchType, strip, metav1.PatchOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("stripping managedFields: %w", err)
	}
	ob, err := rawClient(p.direct).Get().AbsPath(endpoint{gvr: oursGVR}.path(targetName(0))).DoRaw(ctx)
	if err != nil {
		return err
	}
	cb, err := rawClient(p.admin).Get().AbsPath(endpoint{gvr: crdGVR}.path(targetName(0))).DoRaw(ctx)
	if err != nil {
		return err
	}
	p.res.note("one object as JSON: ours %d bytes, CRD %d bytes", len(ob), len(cb))
	return nil
}

// inlineSchema resolves $ref (also as allOf: [{$ref}]) into a structural
// schema a CRD accepts, keeping only the keywords CRDs know.
func inlineSchema(s map[string]any, all map[string]map[string]any, depth int) map[string]any {
	if depth > 20 {
		return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	if ref, ok := s["$ref"].(string); ok {
		return inlineRef(ref, s, all, depth)
	}
	if allOf, ok := s["allOf"].([]any); ok && len(allOf) == 1 {
		if m, ok := allOf[0].(map[string]any); ok {
			if ref, ok := m["$ref"].(string); ok {
				return inlineRef(ref, s, all, depth)
			}
		}
	}
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "type", "format", "description", "required", "enum", "x-kubernetes-list-type",
			"x-kubernetes-list-map-keys", "x-kubernetes-map-type", "pattern", "maxLength", "minLength",
			"maximum", "minimum", "maxItems", "minItems":
			out[k] = v
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = inlineSchema(p.(map[string]any), all, depth+1)
			}
			out[k] = props
		case "items":
			out[k] = inlineSchema(v.(map[string]any), all, depth+1)
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = inlineSchema(m, all, depth+1)
			}
		}
	}
	return out
}

func inlineRef(ref string, s map[string]any, all map[string]map[string]any, depth int) map[string]any {
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	switch {
	case strings.HasSuffix(name, "meta.v1.Time"):
		return map[string]any{"type": "string", "format": "date-time"}
	case strings.HasSuffix(name, "meta.v1.ObjectMeta"):
		return map[string]any{"type": "object"}
	}
	target, ok := all[name]
	if !ok {
		return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	out := inlineSchema(target, all, depth+1)
	if d, ok := s["description"]; ok {
		out["description"] = d
	}
	return out
}
