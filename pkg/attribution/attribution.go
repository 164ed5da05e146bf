// Package attribution finds the Kubernetes user behind each live change, so a
// commit is authored by whoever made the change.
//
// Watch events carry no user; kube-apiserver knows the user of every write
// and reports it through its audit webhook backend to an endpoint of our
// server (Handler). The audit backend is asynchronous: it never sits on the
// write path, and a report arrives shortly after the watch event it explains
// (the branch worker waits for it a short grace). A report is matched to the
// event exactly, not by time:
//
//   - a create, update, patch or apply by the uid and resourceVersion of the
//     object it returned (audit level RequestResponse), which is the object
//     version the watch event carries;
//   - a delete by the uid of the object it deleted;
//   - a Secret, reported at level Metadata (no object, so no Secret value is
//     ever sent to us), by its namespace and name: the latest report for the
//     name. This is the one inexact match.
//
// Coalesced changes (several writes to one object within a push interval) are
// attributed to the last write. A change no report explains in time (the
// webhook down, a managed cluster without audit access, a deletecollection)
// is committed anyway, authored by the field manager of the object's last
// write (managedFields) or the configured default: nothing waits for
// attribution longer than the grace.
//
// Several replicas share reports through their etcd (Shared): the audit
// webhook reaches the replica its Service picks, the change is committed by
// the one that owns the branch's worker.
package attribution

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
)

// Author is who made a write, and how. It is defined by commitstyle, which
// renders commits from it without importing this package.
type Author = commitstyle.Author

// Report is one write as kube-apiserver reported it.
type Report struct {
	Resource        schema.GroupResource
	Namespace, Name string
	UID             types.UID
	// ResourceVersion is the version the write produced ("" for Secrets and
	// deletes).
	ResourceVersion string
	Author
	Received time.Time
}

// event is the part of an audit.k8s.io/v1 Event we read. Request and
// response objects are decoded no further than their metadata.
type event struct {
	Stage string `json:"stage"`
	Verb  string `json:"verb"`
	User  struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"impersonatedUser"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	ObjectRef  *struct {
		Resource    string    `json:"resource"`
		Namespace   string    `json:"namespace"`
		Name        string    `json:"name"`
		UID         types.UID `json:"uid"`
		APIGroup    string    `json:"apiGroup"`
		Subresource string    `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject *struct {
		Kind     string `json:"kind"`
		Metadata struct {
			UID             types.UID `json:"uid"`
			ResourceVersion string    `json:"resourceVersion"`
			ManagedFields   []struct {
				Operation string `json:"operation"`
				Time      string `json:"time"`
			} `json:"managedFields"`
		} `json:"metadata"`
		Details *struct {
			UID types.UID `json:"uid"`
		} `json:"details"`
	} `json:"responseObject"`
}

// ParseEvents reads an audit.k8s.io/v1 EventList and returns the writes it
// reports: completed, successful, on an object (not a subresource other than
// scale or status, whose writes change the object too). Everything else, and
// any request or response body beyond metadata, is ignored; nothing of it is
// kept or logged.
func ParseEvents(body []byte, now time.Time) ([]Report, error) {
	var list struct {
		Kind       string  `json:"kind"`
		APIVersion string  `json:"apiVersion"`
		Items      []event `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("not an audit EventList: %w", err)
	}
	if list.Kind != "EventList" || list.APIVersion != "audit.k8s.io/v1" {
		return nil, fmt.Errorf("not an audit.k8s.io/v1 EventList (%s %s)", list.APIVersion, list.Kind)
	}
	var out []Report
	for _, e := range list.Items {
		if e.Stage != "ResponseComplete" || e.ObjectRef == nil || e.ObjectRef.Name == "" || e.ResponseStatus == nil ||
			e.ResponseStatus.Code < 200 || e.ResponseStatus.Code >= 300 {
			continue
		}
		switch e.ObjectRef.Subresource {
		case "", "status", "scale":
		default:
			continue
		}
		verb := e.Verb
		switch verb {
		case "create", "update", "patch", "delete":
		default:
			continue
		}
		r := Report{
			Resource:  schema.GroupResource{Group: e.ObjectRef.APIGroup, Resource: e.ObjectRef.Resource},
			Namespace: e.ObjectRef.Namespace, Name: e.ObjectRef.Name, UID: e.ObjectRef.UID,
			Author: Author{User: commitstyle.Clean(e.User.Username), Verb: verb, Groups: cleanGroups(e.User.Groups),
				Manager: fieldManager(e.RequestURI, e.UserAgent)}, Received: now,
		}
		if e.ImpersonatedUser != nil && e.ImpersonatedUser.Username != "" {
			r.User, r.Impersonator = commitstyle.Clean(e.ImpersonatedUser.Username), commitstyle.Clean(e.User.Username)
			r.Groups = cleanGroups(e.ImpersonatedUser.Groups)
		}
		if r.User == "" {
			continue
		}
		if ro := e.ResponseObject; ro != nil {
			md := ro.Metadata
			if md.UID != "" {
				r.UID = md.UID
			}
			if verb != "delete" {
				r.ResourceVersion = md.ResourceVersion
			}
			if ro.Kind == "Status" && ro.Details != nil && ro.Details.UID != "" {
				r.UID = ro.Details.UID // a delete answered with a Status
			}
			// Server-side apply is a patch whose latest managed fields entry
			// is an Apply.
			if verb == "patch" {
				latest, op := "", ""
				for _, m := range md.ManagedFields {
					if m.Time >= latest {
						latest, op = m.Time, m.Operation
					}
				}
				if op == "Apply" {
					r.Verb = "apply"
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}
