package restore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// pruneType is a namespaced type the files hold objects of.
type pruneType struct {
	gk         schema.GroupKind
	gvr        schema.GroupVersionResource
	apiVersion string
}

// prune deletes the objects of the types the files hold, in the restored
// namespaces, that the files do not hold: dependents first (the reverse of
// the order of writes). Only namespaced types are pruned (never a Namespace,
// nor a cluster-scoped object), and never what the cluster or a controller
// made (selection.Derived: an owned ReplicaSet, the default ServiceAccount,
// kube-root-ca.crt, a ServiceAccount token), which the mirror does not
// mirror either. When a file could not be read at all, nothing is deleted:
// it may hold any of them.
func (x *run) prune(ctx context.Context) {
	inFiles := map[string]bool{}
	var unreadable []string
	seen := map[schema.GroupKind]bool{}
	var kinds []pruneType
	for _, it := range x.items {
		if it.Kind == "" {
			unreadable = append(unreadable, it.Path)
			continue
		}
		inFiles[objectKey(it.GroupKind(), it.Namespace, it.Name)] = true
		if it.mapped && it.namespaced && !seen[it.GroupKind()] {
			seen[it.GroupKind()] = true
			kinds = append(kinds, pruneType{gk: it.GroupKind(), gvr: it.gvr, apiVersion: it.APIVersion})
		}
	}
	sort.SliceStable(kinds, func(i, j int) bool { // items were in order: reverse it
		return Tier(kinds[i].gk) > Tier(kinds[j].gk)
	})
	namespaces := append([]string(nil), x.opts.Namespaces...)
	sort.Strings(namespaces)
	for _, k := range kinds {
		for _, ns := range namespaces {
			x.pruneCandidates(ctx, k, ns, inFiles, unreadable)
		}
	}
	for _, tier := range byTier(x.deletes) {
		x.parallel(ctx, tier, x.delete)
	}
}

// pruneCandidates adds the deletions of one type in one namespace.
func (x *run) pruneCandidates(ctx context.Context, k pruneType, ns string, inFiles map[string]bool, unreadable []string) {
	objs, err := x.list(ctx, listKey{k.gvr, ns})
	if err != nil {
		it := &item{Decoded: Decoded{APIVersion: k.apiVersion, Kind: k.gk.Kind, Namespace: ns}}
		it.out = v1alpha1.RestoredObject{APIVersion: k.apiVersion, Kind: k.gk.Kind, Namespace: ns}
		x.fail(it, fmt.Errorf("cannot list %s in %s to prune: %w", k.gvr.Resource, ns, err))
		x.deletes = append(x.deletes, it)
		return
	}
	names := make([]string, 0, len(objs))
	for name := range objs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		obj := objs[name]
		if inFiles[objectKey(k.gk, ns, name)] || obj.GetDeletionTimestamp() != nil {
			continue
		}
		if d, _ := selection.Derived(k.gvr, obj); d != selection.NotDerived {
			continue
		}
		it := &item{Decoded: Decoded{APIVersion: obj.GetAPIVersion(), Kind: k.gk.Kind, Namespace: ns, Name: name},
			gvr: k.gvr, mapped: true, namespaced: true, current: obj, fetched: true, uid: string(obj.GetUID())}
		it.out = v1alpha1.RestoredObject{APIVersion: obj.GetAPIVersion(), Kind: k.gk.Kind, Namespace: ns, Name: name}
		if len(unreadable) > 0 {
			x.failWith(it, ReasonInvalid, "not pruned: %s could not be read and may hold this object",
				strings.Join(unreadable, ", "))
		}
		x.deletes = append(x.deletes, it)
	}
}

// delete deletes one object (dry run: plans it), only while it is the object
// listed (its uid): one created again since is left alone.
func (x *run) delete(ctx context.Context, it *item) {
	if err := ctx.Err(); err != nil {
		x.fail(it, fmt.Errorf("not deleted: %w", err))
		return
	}
	err := x.r.Client.Delete(ctx, it.gvr, it.Namespace, it.Name, types.UID(it.uid), x.opts.DryRun)
	switch {
	case isNotFound(err):
		it.gone, it.out.Result = true, Deleted
	case err != nil:
		x.fail(it, err)
	case x.opts.DryRun:
		it.out.Result = Delete
		it.out.Diff = objectDiff(it.current, nil, orDefault(x.r.DiffLimit, DefaultDiffLimit))
	default:
		it.out.Result = Deleted
	}
}

// result is the restore's objects in the order of writes, diffs within
// TotalDiffLimit, and their summary.
func (x *run) result() Result {
	var res Result
	budget := orDefault(x.r.TotalDiffLimit, DefaultTotalDiffLimit)
	for _, group := range [][]*item{x.items, x.deletes} {
		for _, it := range group {
			if it.gone {
				continue
			}
			o := it.out
			if len(o.Diff) > budget {
				o.Diff, budget = "", 0
				o.Message = strings.TrimPrefix(o.Message+"; diff left out: the plan's diffs exceed its limit", "; ")
			}
			budget -= len(o.Diff)
			res.Objects = append(res.Objects, o)
			count(&res.Summary, o.Result)
		}
	}
	return res
}

func count(s *v1alpha1.RestoreSummary, result string) {
	switch result {
	case Created, Create:
		s.Created++
	case Updated, Update:
		s.Updated++
	case Unchanged:
		s.Unchanged++
	case Deleted, Delete:
		s.Deleted++
	case Failed:
		s.Failed++
	}
}
