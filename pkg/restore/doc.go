/*
Package restore puts objects back as Git holds them: the engine behind
GitRestore. Its caller reads the files of a commit (one object revision, or
what a GitTarget mirrored from some namespaces) and hands them over as
[]File; the engine decodes them (Decode: Secrets decrypted with the target's
age identities), orders them (Order, Tier), maps their kinds to resources
(NewMapper), reads the current objects, and writes each with a forced
server-side apply (field manager FieldManager), or with Options.DryRun plans
the writes with dry-run requests and a diff for each, writing nothing.

# As the user

Every request goes through a Client made by NewClient from the server's own
configuration and the identity recorded on the GitRestore: it impersonates
that user (name, uid, groups, extra). RBAC, admission and audit see the user,
the restore can do nothing the user could not do with kubectl, and what it
writes comes back through the mirror authored by them. The server's
ServiceAccount needs no write right, only impersonate on users, groups, uids,
userextras and serviceaccounts. Discovery (the RESTMapper) is read with the
server's credentials: every authenticated user may read it.

# What a restore does

  - Order: Namespaces, CustomResourceDefinitions, classes, ServiceAccounts,
    ConfigMaps, Secrets, LimitRanges, ResourceQuotas, PersistentVolumes,
    claims, Roles, bindings, everything else, Services, workloads, admission
    configuration last (see order.go for why). Objects of one tier are
    written Workers at a time; tiers one after another.
  - Per object: Created when it did not exist; Unchanged when it already
    renders to the file's content (no write is made) or the apply changed
    nothing; Updated otherwise; Failed with the API's reason (Forbidden,
    Invalid, Conflict, NotFound, ...) and message. A failure never stops the
    restore: an object whose dependency failed is still tried, and the API
    says why it fails.
  - A namespace restored into that does not exist is created first: from its
    file when the target mirrored Namespaces, else bare (no labels or
    annotations). A namespace the user may not read is not created.
  - Prune (Options.Prune) deletes, after the writes and dependents first, the
    objects of the restored namespaced types in Options.Namespaces that exist
    now but are not in the files. Never a Namespace or a cluster-scoped
    object, never what the cluster or a controller made (an owned
    ReplicaSet or Pod, the default ServiceAccount, kube-root-ca.crt, token
    Secrets: what the mirror leaves out by default), never an object created
    again since it was listed (the deletion requires its uid), and nothing
    at all when a file could not be read (it may hold any of them).
  - Bounds: at most MaxObjects objects (default 10000; more is refused
    before any request, ErrTooManyObjects); the current objects of a type in
    a namespace are read with one List (a Get each for a user who may not
    list); one client and one RESTMapper serve the whole restore, so a
    restore of n objects costs about the n PATCH requests of
    kubectl apply --server-side. Diffs are cut at DiffLimit bytes each and
    left out past TotalDiffLimit for the whole plan.

# Edges

Objects whose kind no longer exists. An object whose kind the cluster does
not serve (its CustomResourceDefinition or API was removed, or the file's
apiVersion is no longer served) fails with reason NoKindMatch, and the
message says which: the kind is gone, or the cluster serves it in another
version (the file must be converted by hand). A custom resource whose
CustomResourceDefinition is in the same restore is written once the
definition is established and its kind served (waited for up to CRDWait,
default one minute); a dry run plans it as created without asking the API.

What the mirror dropped is not invented. Files leave out what the server and
controllers own: status, uid, resourceVersion, generation,
creationTimestamp, managedFields, owner references, a Service's clusterIP
and clusterIPs (but "None"), a claim's volumeName, the Deployment
controller's annotations. A restore writes none of them (owner references in
a hand-written file are stripped too: they name objects by uid, and a stale
one would have the garbage collector delete the restored object). The API
server and the controllers fill in what they generate: a restored Service
gets a new clusterIP (an existing Service keeps its own), a Deployment new
ReplicaSets and Pods, a claim binds anew (to a newly provisioned volume, or
to a matching Available PersistentVolume; a Released volume still holds the
old claim's uid and is not rebound without an administrator), an object
once owned by another stands alone until a controller adopts it.

Immutable fields. An update that changes an immutable field (a Deployment's
spec.selector, a Job's template, a bound claim's spec, a Secret or
ConfigMap marked immutable) fails with reason Invalid and the API's message
naming the field, for that object only; a dry run shows the same. To go
back past such a change, delete the object and restore it again.

Server-side apply. The restore owns, and sets, every field its files set.
Fields another manager set since and the file does not hold are left as
they are (as with kubectl apply --server-side); fields an earlier restore
set that the file no longer holds are removed. An object whose content does
not change is reported Unchanged.

Secrets. A Secret is decrypted only in memory, only to be written, and its
values are never logged nor put in a message; diffs show which keys of
data, stringData and annotations change ("*** (changed)") but no value. A
Secret that does not decrypt with the target's keys (they were rotated
since the commit) fails with reason DecryptionFailed; the rest goes on.

A target whose path changed. The files are those of the path the target
had at the commit, which is the caller's to choose; the engine restores
every file it is given, whatever its path, and Options.Namespaces only says
which namespaces are created when missing and pruned.

Dry runs. Every request that would write is made with dryRun=All, so RBAC
and admission judge the plan; objects in a namespace, or of a kind, that
the plan itself creates cannot be judged before they exist and are planned
as created. A plan is what would happen now: the cluster may change before
the restore.
*/
package restore
