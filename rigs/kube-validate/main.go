// kube-validate checks rendered Kubernetes manifests against the real API types.
//
// It reads a multi-document YAML stream (the output of `helm template`) on stdin and decodes
// every document strictly with client-go's scheme, the Go types the API server itself decodes
// into: an unknown kind or apiVersion, an unknown or duplicated field, or a value of the wrong
// type is an error. Object names and labels are checked with apimachinery's validation rules.
// Each valid object is written to stdout as one line of JSON (for the caller's own checks);
// every problem goes to stderr, and the exit code is 1 if there was any.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

func main() {
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	problems, objects := 0, 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "reading the YAML stream: %v\n", err)
			os.Exit(1)
		}
		asJSON, err := sigsyaml.YAMLToJSON(doc)
		if err != nil {
			problems++
			fmt.Fprintf(os.Stderr, "document %d: not YAML: %v\n", objects+1, err)
			continue
		}
		if trimmed := bytes.TrimSpace(asJSON); len(trimmed) == 0 || string(trimmed) == "null" {
			continue // a comment-only document (a template that rendered nothing)
		}
		objects++
		object, gvk, err := strict.Decode(doc, nil, nil)
		where := fmt.Sprintf("document %d", objects)
		if gvk != nil {
			where = fmt.Sprintf("document %d (%s)", objects, gvk.String())
		}
		if err != nil {
			problems++
			fmt.Fprintf(os.Stderr, "%s: %v\n", where, err)
			continue
		}
		accessor, err := meta.Accessor(object)
		if err != nil {
			problems++
			fmt.Fprintf(os.Stderr, "%s: no object metadata: %v\n", where, err)
			continue
		}
		where = fmt.Sprintf("%s %s", gvk.Kind, accessor.GetName())
		var errs field.ErrorList
		nameRule := apivalidation.NameIsDNSSubdomain
		if gvk.Kind == "Service" {
			nameRule = apivalidation.NameIsDNS1035Label
		}
		for _, problem := range nameRule(accessor.GetName(), false) {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), accessor.GetName(), problem))
		}
		errs = append(errs, metav1validation.ValidateLabels(accessor.GetLabels(), field.NewPath("metadata", "labels"))...)
		errs = append(errs, apivalidation.ValidateAnnotations(accessor.GetAnnotations(), field.NewPath("metadata", "annotations"))...)
		for _, e := range errs {
			problems++
			fmt.Fprintf(os.Stderr, "%s: %v\n", where, e)
		}
		out.Write(bytes.TrimSpace(asJSON))
		out.WriteString("\n")
	}
	if problems > 0 {
		fmt.Fprintf(os.Stderr, "%d problem(s) in %d object(s)\n", problems, objects)
		out.Flush()
		os.Exit(1)
	}
}
