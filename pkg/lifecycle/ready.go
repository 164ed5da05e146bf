package lifecycle

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
)

// writeReady sets the Ready condition of a provider or rule through its
// writer, and whatever more (when set) changes.
func writeReady(ctx context.Context, s *shared, w StatusWriter, ns, name string, gen int64, o gates.Outcome, more func(runtime.Object) bool) error {
	if w == nil {
		return nil
	}
	ctx, cancel := s.writeContext(ctx)
	defer cancel()
	_, _, err := w.Update(ctx, ns, name, func(obj runtime.Object) (bool, error) {
		conds, og := readyFields(obj)
		out, changed, err := conditions.Set(*conds, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: o.Status, Reason: o.Reason, Message: o.Message, ObservedGeneration: gen,
		}, s.opts.Clock.Now())
		if err != nil {
			return false, err
		}
		*conds = out
		if *og != gen {
			*og, changed = gen, true
		}
		if more != nil && more(obj) {
			changed = true
		}
		return changed, nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func readyFields(obj runtime.Object) (*[]metav1.Condition, *int64) {
	switch o := obj.(type) {
	case *v1alpha1.GitProvider:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	case *v1alpha1.WatchRule:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	case *v1alpha1.ClusterWatchRule:
		return &o.Status.Conditions, &o.Status.ObservedGeneration
	}
	panic(fmt.Sprintf("no Ready condition on %T", obj))
}
