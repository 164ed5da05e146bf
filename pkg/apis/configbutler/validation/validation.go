// Package validation validates configbutler.ai objects (internal version). Every
// error carries the field path of the offending value, so kubectl shows users
// exactly what to fix.
package validation

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/repopath"
)

// maxPathLength bounds GitTarget.spec.path; git itself allows more, but a longer
// prefix leaves little room for the <group>/<version>/<resource>/<ns>/<name> layout.
const maxPathLength = 512

// Bounds on what a tenant writes: every list and string the server evaluates
// is bounded, so that no object costs more than a bounded amount to admit
// (these checks run before the tenancy review), to resolve, and to apply to
// every object the server mirrors. A list over its bound is refused whole,
// with one error, its entries unchecked. Each bound is generous for real use
// and documented on its field (kubectl explain).
const (
	// maxRules bounds spec.rules of a WatchRule or ClusterWatchRule.
	maxRules = 64
	// maxExclusions bounds spec.exclude.
	maxExclusions = 64
	// maxListEntries bounds every string list of a rule, an exclusion or an
	// ignoreFields entry (apiGroups, apiVersions, resources, namespaces,
	// names, kinds, paths), and each part of a label selector (matchLabels,
	// matchExpressions, the values of one expression).
	maxListEntries = 32
	// maxGlobLength bounds an exclusion's namespace or name pattern (an
	// object name is at most 253 characters).
	maxGlobLength = 253
	// maxKindLength bounds an ignoreFields kind (a kind is a DNS label).
	maxKindLength = 63
	// maxIgnoreFields bounds GitTarget.spec.ignoreFields.
	maxIgnoreFields = 32
	// maxFieldPathLength bounds one ignoreFields path.
	maxFieldPathLength = 512
	// maxPathWildcards bounds the [*] (every list element) of one path.
	maxPathWildcards = 4
	// maxAllowedBranches and maxBranchLength bound GitProvider.spec.allowedBranches
	// and each pattern; maxBranchLength also bounds GitTarget.spec.branch
	// (most file systems hold at most 255 bytes in a name).
	maxAllowedBranches = 32
	maxBranchLength    = 255
	// maxURLLength bounds GitProvider.spec.url.
	maxURLLength = 2048
	// maxIdentityLength bounds the committer name and email.
	maxIdentityLength = 255
	// maxPushChanges bounds push.maxChanges: the worker holds that many
	// pending changes (each a rendered object) in memory before it commits,
	// and builds and pushes one commit of that many files at once. 10000 is
	// 20 times the default, more than any real burst needs in one commit.
	maxPushChanges = 10000
	// minPushInterval and maxPushInterval bound push.interval: below a second
	// every change would make its own commit and push (a remote round trip
	// per change, the batching defeated); past an hour changes wait in memory,
	// not in Git, for longer than anyone expects a mirror to lag.
	minPushInterval = time.Second
	maxPushInterval = time.Hour
)

// tooMany is a TooMany error for a list of n entries over max (nil within).
func tooMany(fld *field.Path, n, max int) field.ErrorList {
	if n > max {
		return field.ErrorList{field.TooMany(fld, n, max)}
	}
	return nil
}

// ValidateGitProvider validates a GitProvider on create.
func ValidateGitProvider(p *configbutler.GitProvider) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&p.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateGitProviderSpec(&p.Spec, field.NewPath("spec"))...)
}

// ValidateGitProviderUpdate validates a GitProvider on update.
func ValidateGitProviderUpdate(p, old *configbutler.GitProvider) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateGitProviderSpec(&p.Spec, field.NewPath("spec"))...)
}

// ValidateGitProviderSpec validates the repository URL, credentials reference,
// allowed branch patterns and push policy.
func ValidateGitProviderSpec(s *configbutler.GitProviderSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(s.URL) > maxURLLength {
		allErrs = append(allErrs, field.TooLong(fld.Child("url"), "", maxURLLength))
	} else {
		allErrs = append(allErrs, ValidateRepoURL(s.URL, fld.Child("url"))...)
	}
	if s.SecretRef != nil {
		allErrs = append(allErrs, validateLocalRef(s.SecretRef.Name, fld.Child("secretRef", "name"))...)
	}
	if len(s.AllowedBranches) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("allowedBranches"), "at least one branch pattern is required"))
	}
	if errs := tooMany(fld.Child("allowedBranches"), len(s.AllowedBranches), maxAllowedBranches); errs != nil {
		allErrs = append(allErrs, errs...)
	} else {
		seen := sets.New[string]()
		for i, pattern := range s.AllowedBranches {
			p := fld.Child("allowedBranches").Index(i)
			switch {
			case pattern == "":
				allErrs = append(allErrs, field.Required(p, "pattern must not be empty"))
			case len(pattern) > maxBranchLength:
				allErrs = append(allErrs, field.TooLong(p, "", maxBranchLength))
			case seen.Has(pattern):
				allErrs = append(allErrs, field.Duplicate(p, pattern))
			default:
				if _, err := path.Match(pattern, ""); err != nil {
					allErrs = append(allErrs, field.Invalid(p, pattern, fmt.Sprintf("not a valid glob pattern: %v", err)))
				}
			}
			seen.Insert(pattern)
		}
	}
	if d := s.Push.Interval.Duration; d < minPushInterval || d > maxPushInterval {
		allErrs = append(allErrs, field.Invalid(fld.Child("push", "interval"), d.String(), fmt.Sprintf("must be between %v and %v", minPushInterval, maxPushInterval)))
	}
	if s.Push.MaxChanges < 1 || s.Push.MaxChanges > maxPushChanges {
		allErrs = append(allErrs, field.Invalid(fld.Child("push", "maxChanges"), s.Push.MaxChanges, fmt.Sprintf("must be between 1 and %d", maxPushChanges)))
	}
	if s.Commit != nil {
		allErrs = append(allErrs, validateCommit(s.Commit, fld.Child("commit"))...)
	}
	return allErrs
}

// maxTemplate bounds each commit template's source (4096 bytes).
const maxTemplate = commitstyle.MaxSource

// validateCommit checks the committer identity and that the templates parse,
// stay within commitstyle's bounds (no nested or unbounded range, no
// define/template, bounded printf widths, bounded output) and run on sample
// data (an unknown field is refused here, not found by the worker later).
// Each error names the template's field and the bound it broke.
func validateCommit(c *configbutler.CommitSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, f := range []struct{ name, value string }{{"committerName", c.CommitterName}, {"committerEmail", c.CommitterEmail}} {
		if len(f.value) > maxIdentityLength {
			allErrs = append(allErrs, field.TooLong(fld.Child(f.name), "", maxIdentityLength))
		} else if c := commitstyle.Clean(f.value); c != f.value {
			allErrs = append(allErrs, field.Invalid(fld.Child(f.name), f.value, "must not contain control characters, '<' or '>', or leading or trailing spaces"))
		}
	}
	if c.CommitterEmail != "" && !strings.Contains(c.CommitterEmail, "@") {
		allErrs = append(allErrs, field.Invalid(fld.Child("committerEmail"), c.CommitterEmail, "must be an email address"))
	}
	tooLong := false
	for _, f := range []struct{ name, value string }{{"authorName", c.AuthorName}, {"authorEmail", c.AuthorEmail}, {"message", c.Message}} {
		if len(f.value) > maxTemplate {
			allErrs = append(allErrs, field.TooLong(fld.Child(f.name), "", maxTemplate))
			tooLong = true
		}
	}
	if !tooLong {
		if _, err := commitstyle.ParseStyle(c.AuthorName, c.AuthorEmail, c.Message); err != nil {
			var te *commitstyle.TemplateError
			if errors.As(err, &te) {
				allErrs = append(allErrs, field.Invalid(fld.Child(te.Field), map[string]string{"authorName": c.AuthorName, "authorEmail": c.AuthorEmail, "message": c.Message}[te.Field], te.Err.Error()))
			} else {
				allErrs = append(allErrs, field.Invalid(fld, "", err.Error()))
			}
		}
	}
	if c.SigningKeyRef != nil {
		allErrs = append(allErrs, validateLocalRef(c.SigningKeyRef.Name, fld.Child("signingKeyRef", "name"))...)
	}
	return allErrs
}

// scpLike matches scp-style remotes such as git@github.com:org/repo.git.
var scpLike = regexp.MustCompile(`^(?:([A-Za-z0-9._~-]+)@)?([A-Za-z0-9.-]+):([^/\\].*)$`)

// ValidateRepoURL accepts https, http, ssh, file and scp-style (git@host:path) URLs,
// and refuses credentials embedded in the URL: they belong in secretRef, and would
// otherwise leak into status, events and logs.
func ValidateRepoURL(raw string, fld *field.Path) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(fld, "repository URL is required")}
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return field.ErrorList{field.Invalid(fld, redactURL(raw), "must not contain whitespace")}
	}
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil {
			return field.ErrorList{field.Invalid(fld, redactURL(raw), "not a valid repository URL: use https://, http://, ssh://, file:// or git@host:path")}
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return field.ErrorList{field.Invalid(fld, redactURL(raw), "not a valid repository URL")}
	}
	switch u.Scheme {
	case "https", "http", "ssh":
		if u.Host == "" || u.Hostname() == "" {
			return field.ErrorList{field.Invalid(fld, redactURL(raw), "URL must have a host")}
		}
		if u.Path == "" || u.Path == "/" {
			return field.ErrorList{field.Invalid(fld, redactURL(raw), "URL must name a repository path")}
		}
	case "file":
		if u.Path == "" {
			return field.ErrorList{field.Invalid(fld, redactURL(raw), "file URL must have a path")}
		}
	default:
		return field.ErrorList{field.NotSupported(fld.Child("scheme"), u.Scheme, []string{"https", "http", "ssh", "file"})}
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); hasPassword || u.Scheme != "ssh" {
			return field.ErrorList{field.Invalid(fld, redactURL(raw), "credentials must not be embedded in the URL; put them in the Secret named by secretRef")}
		}
	}
	return nil
}

// redactURL hides userinfo so an invalid URL echoed back in an error cannot leak a token.
func redactURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
			return raw[:i+3] + "REDACTED@" + rest[at+1:]
		}
	}
	return raw
}

// ValidateGitTarget validates a GitTarget on create.
func ValidateGitTarget(t *configbutler.GitTarget) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&t.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateGitTargetSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateGitTargetUpdate validates a GitTarget on update.
func ValidateGitTargetUpdate(t, old *configbutler.GitTarget) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateGitTargetSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateGitTargetSpec validates where a target writes.
func ValidateGitTargetSpec(s *configbutler.GitTargetSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ref := fld.Child("providerRef")
	allErrs = append(allErrs, validateLocalRef(s.ProviderRef.Name, ref.Child("name"))...)
	if s.ProviderRef.Group != v1alpha1.GroupName {
		allErrs = append(allErrs, field.NotSupported(ref.Child("group"), s.ProviderRef.Group, []string{v1alpha1.GroupName}))
	}
	if s.ProviderRef.Kind != "GitProvider" {
		allErrs = append(allErrs, field.NotSupported(ref.Child("kind"), s.ProviderRef.Kind, []string{"GitProvider"}))
	}
	if len(s.Branch) > maxBranchLength {
		allErrs = append(allErrs, field.TooLong(fld.Child("branch"), "", maxBranchLength))
	} else {
		allErrs = append(allErrs, ValidateBranchName(s.Branch, fld.Child("branch"))...)
	}
	allErrs = append(allErrs, ValidateTargetPath(s.Path, fld.Child("path"))...)
	if e := s.Encryption; e != nil {
		efld := fld.Child("encryption")
		if e.Provider != v1alpha1.EncryptionProviderSOPS {
			allErrs = append(allErrs, field.NotSupported(efld.Child("provider"), e.Provider, []string{v1alpha1.EncryptionProviderSOPS}))
		}
		allErrs = append(allErrs, validateLocalRef(e.SecretRef.Name, efld.Child("secretRef", "name"))...)
	}
	return append(allErrs, validateIgnoreFields(s.IgnoreFields, fld.Child("ignoreFields"))...)
}

// ValidateTargetPath accepts a repository directory by the rule the git engine
// applies to every path it writes (repopath.ValidateDir): relative, canonical
// (no empty, "." or ".." segment, so no leading, trailing or double '/'), no
// ".git" segment in any letter case, no backslash or control character, valid
// UTF-8, and at most maxPathLength bytes. The empty path is the repository root.
// Paths are refused rather than cleaned, so what is stored is what is written.
func ValidateTargetPath(p string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(p) > maxPathLength {
		allErrs = append(allErrs, field.TooLong(fld, "", maxPathLength))
	}
	if err := repopath.ValidateDir(p); err != nil {
		reason := err.Error()
		if pe, ok := errors.AsType[*repopath.Error](err); ok {
			reason = pe.Reason // the field path already says which value
		}
		allErrs = append(allErrs, field.Invalid(fld, p, reason))
	}
	return allErrs
}

// ValidateBranchName applies git check-ref-format rules to refs/heads/<name>.
func ValidateBranchName(b string, fld *field.Path) field.ErrorList {
	if b == "" {
		return field.ErrorList{field.Required(fld, "branch is required")}
	}
	if msg := checkRefFormat(b); msg != "" {
		return field.ErrorList{field.Invalid(fld, b, "not a valid git branch name: "+msg)}
	}
	return nil
}

// checkRefFormat returns why name is not a valid branch name, or "" (see
// git-check-ref-format(1); branch names additionally may not start with '-' or be "HEAD").
func checkRefFormat(name string) string {
	switch {
	case name == "@":
		return "must not be '@'"
	case name == "HEAD":
		return "must not be HEAD"
	case strings.HasPrefix(name, "-"):
		return "must not start with '-'"
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return "must not start or end with '/'"
	case strings.HasSuffix(name, "."):
		return "must not end with '.'"
	case strings.Contains(name, "//"):
		return "must not contain '//'"
	case strings.Contains(name, ".."):
		return "must not contain '..'"
	case strings.Contains(name, "@{"):
		return "must not contain '@{'"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "must not contain control characters"
		}
		if strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Sprintf("must not contain %q", r)
		}
	}
	for _, comp := range strings.Split(name, "/") {
		if strings.HasPrefix(comp, ".") {
			return "no path component may start with '.'"
		}
		if strings.HasSuffix(comp, ".lock") {
			return "no path component may end with '.lock'"
		}
	}
	return ""
}

// ValidateWatchRule validates a WatchRule on create.
func ValidateWatchRule(r *configbutler.WatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateWatchRuleUpdate validates a WatchRule on update.
func ValidateWatchRuleUpdate(r, old *configbutler.WatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateWatchRuleSpec validates a namespaced rule set.
func ValidateWatchRuleSpec(s *configbutler.WatchRuleSpec, fld *field.Path) field.ErrorList {
	allErrs := validateLocalRef(s.TargetRef.Name, fld.Child("targetRef", "name"))
	if len(s.Rules) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("rules"), "at least one rule is required"))
	}
	if errs := tooMany(fld.Child("rules"), len(s.Rules), maxRules); errs != nil {
		allErrs = append(allErrs, errs...)
	} else {
		for i, r := range s.Rules {
			rf := fld.Child("rules").Index(i)
			allErrs = append(allErrs, validateRule(r.APIGroups, r.APIVersions, r.Resources, rf)...)
			allErrs = append(allErrs, validateSelector(r.LabelSelector, rf.Child("labelSelector"))...)
		}
	}
	return append(allErrs, validateExclusions(s.Exclude, fld.Child("exclude"))...)
}

// validateSelector bounds a label selector (maxListEntries labels,
// expressions, and values per expression), then validates it.
func validateSelector(ls *metav1.LabelSelector, fld *field.Path) field.ErrorList {
	if ls == nil {
		return nil
	}
	allErrs := tooMany(fld.Child("matchLabels"), len(ls.MatchLabels), maxListEntries)
	allErrs = append(allErrs, tooMany(fld.Child("matchExpressions"), len(ls.MatchExpressions), maxListEntries)...)
	if allErrs == nil {
		for i, e := range ls.MatchExpressions {
			allErrs = append(allErrs, tooMany(fld.Child("matchExpressions").Index(i).Child("values"), len(e.Values), maxListEntries)...)
		}
	}
	if allErrs != nil {
		return allErrs
	}
	return metav1validation.ValidateLabelSelector(ls, metav1validation.LabelSelectorValidationOptions{}, fld)
}

// validateExclusions: at most maxExclusions, each with a field and at most
// maxListEntries entries per list; groups, resources and glob patterns must
// be well formed, globs at most maxGlobLength long.
func validateExclusions(ex []configbutler.Exclusion, fld *field.Path) field.ErrorList {
	if errs := tooMany(fld, len(ex), maxExclusions); errs != nil {
		return errs
	}
	var allErrs field.ErrorList
	for i, e := range ex {
		ef := fld.Index(i)
		if len(e.APIGroups)+len(e.Resources)+len(e.Namespaces)+len(e.Names) == 0 {
			allErrs = append(allErrs, field.Required(ef, "an exclusion needs apiGroups, resources, namespaces or names"))
		}
		var over field.ErrorList
		for _, l := range []struct {
			name string
			n    int
		}{{"apiGroups", len(e.APIGroups)}, {"resources", len(e.Resources)}, {"namespaces", len(e.Namespaces)}, {"names", len(e.Names)}} {
			over = append(over, tooMany(ef.Child(l.name), l.n, maxListEntries)...)
		}
		if over != nil {
			allErrs = append(allErrs, over...)
			continue
		}
		for j, g := range e.APIGroups {
			if g == "" {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(g) {
				allErrs = append(allErrs, field.Invalid(ef.Child("apiGroups").Index(j), g, msg))
			}
		}
		for j, r := range e.Resources {
			for _, msg := range validation.IsDNS1123Subdomain(r) {
				allErrs = append(allErrs, field.Invalid(ef.Child("resources").Index(j), r, msg))
			}
		}
		for _, l := range []struct {
			name  string
			globs []string
		}{{"namespaces", e.Namespaces}, {"names", e.Names}} {
			for j, g := range l.globs {
				if len(g) > maxGlobLength {
					allErrs = append(allErrs, field.TooLong(ef.Child(l.name).Index(j), "", maxGlobLength))
				} else if _, err := path.Match(g, ""); err != nil || g == "" {
					allErrs = append(allErrs, field.Invalid(ef.Child(l.name).Index(j), g, "must be a glob pattern (path.Match syntax)"))
				}
			}
		}
	}
	return allErrs
}

// validateIgnoreFields: at most maxIgnoreFields entries, each with at most
// maxListEntries apiGroups, kinds and paths; each path parses, is at most
// maxFieldPathLength long and has at most maxPathWildcards [*].
func validateIgnoreFields(fs []configbutler.IgnoreFields, fld *field.Path) field.ErrorList {
	if errs := tooMany(fld, len(fs), maxIgnoreFields); errs != nil {
		return errs
	}
	var allErrs field.ErrorList
	for i, f := range fs {
		ff := fld.Index(i)
		if len(f.Paths) == 0 {
			allErrs = append(allErrs, field.Required(ff.Child("paths"), "at least one path is required"))
		}
		var over field.ErrorList
		for _, l := range []struct {
			name string
			n    int
		}{{"apiGroups", len(f.APIGroups)}, {"kinds", len(f.Kinds)}, {"paths", len(f.Paths)}} {
			over = append(over, tooMany(ff.Child(l.name), l.n, maxListEntries)...)
		}
		if over != nil {
			allErrs = append(allErrs, over...)
			continue
		}
		for j, p := range f.Paths {
			pf := ff.Child("paths").Index(j)
			if len(p) > maxFieldPathLength {
				allErrs = append(allErrs, field.TooLong(pf, "", maxFieldPathLength))
				continue
			}
			if _, err := render.ParseFieldPath(p); err != nil {
				allErrs = append(allErrs, field.Invalid(pf, p, err.Error()))
				continue
			}
			if n := strings.Count(p, "[*]"); n > maxPathWildcards {
				allErrs = append(allErrs, field.Invalid(pf, p, fmt.Sprintf("has %d [*]; at most %d are allowed", n, maxPathWildcards)))
			}
		}
		for j, k := range f.Kinds {
			if len(k) > maxKindLength {
				allErrs = append(allErrs, field.TooLong(ff.Child("kinds").Index(j), "", maxKindLength))
			}
		}
		for j, g := range f.APIGroups {
			if g == "" || g == "*" {
				continue
			}
			for _, msg := range validation.IsDNS1123Subdomain(g) {
				allErrs = append(allErrs, field.Invalid(ff.Child("apiGroups").Index(j), g, msg))
			}
		}
	}
	return allErrs
}

// ValidateClusterWatchRule validates a ClusterWatchRule on create.
func ValidateClusterWatchRule(r *configbutler.ClusterWatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateClusterWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateClusterWatchRuleUpdate validates a ClusterWatchRule on update.
func ValidateClusterWatchRuleUpdate(r, old *configbutler.ClusterWatchRule) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateClusterWatchRuleSpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateClusterWatchRuleSpec validates a cluster rule set.
func ValidateClusterWatchRuleSpec(s *configbutler.ClusterWatchRuleSpec, fld *field.Path) field.ErrorList {
	allErrs := validateLocalRef(s.TargetRef.Name, fld.Child("targetRef", "name"))
	nsFld := fld.Child("targetRef", "namespace")
	if s.TargetRef.Namespace == "" {
		allErrs = append(allErrs, field.Required(nsFld, "namespace of the GitTarget is required"))
	} else {
		for _, msg := range validation.IsDNS1123Label(s.TargetRef.Namespace) {
			allErrs = append(allErrs, field.Invalid(nsFld, s.TargetRef.Namespace, msg))
		}
	}
	if len(s.Rules) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("rules"), "at least one rule is required"))
	}
	if errs := tooMany(fld.Child("rules"), len(s.Rules), maxRules); errs != nil {
		return append(append(allErrs, errs...), validateExclusions(s.Exclude, fld.Child("exclude"))...)
	}
	for i, r := range s.Rules {
		rf := fld.Child("rules").Index(i)
		allErrs = append(allErrs, validateRule(r.APIGroups, r.APIVersions, r.Resources, rf)...)
		allErrs = append(allErrs, validateSelector(r.LabelSelector, rf.Child("labelSelector"))...)
		allErrs = append(allErrs, validateSelector(r.NamespaceSelector, rf.Child("namespaceSelector"))...)
		if r.NamespaceSelector != nil && r.Scope == configbutler.ClusterScope {
			allErrs = append(allErrs, field.Forbidden(rf.Child("namespaceSelector"), "only with scope Namespaced: cluster-scoped objects are in no namespace"))
		}
		switch r.Scope {
		case configbutler.ClusterScope, configbutler.NamespacedScope:
		case "":
			allErrs = append(allErrs, field.Required(rf.Child("scope"), "scope is required: Cluster or Namespaced"))
		default:
			allErrs = append(allErrs, field.NotSupported(rf.Child("scope"), r.Scope, []configbutler.ResourceScope{configbutler.ClusterScope, configbutler.NamespacedScope}))
		}
	}
	return append(allErrs, validateExclusions(s.Exclude, fld.Child("exclude"))...)
}

// validateRule: groups and resources are required; at most maxListEntries
// groups, versions and resources, each well formed.
func validateRule(groups, versions, resources []string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, tooMany(fld.Child("apiGroups"), len(groups), maxListEntries)...)
	allErrs = append(allErrs, tooMany(fld.Child("apiVersions"), len(versions), maxListEntries)...)
	allErrs = append(allErrs, tooMany(fld.Child("resources"), len(resources), maxListEntries)...)
	if allErrs != nil {
		return allErrs
	}
	if len(groups) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("apiGroups"), `at least one API group is required ("" for core, "*" for all)`))
	}
	for i, g := range groups {
		if g == "" || g == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(g) {
			allErrs = append(allErrs, field.Invalid(fld.Child("apiGroups").Index(i), g, msg))
		}
	}
	for i, v := range versions {
		if v == "*" {
			continue
		}
		for _, msg := range validation.IsDNS1035Label(v) {
			allErrs = append(allErrs, field.Invalid(fld.Child("apiVersions").Index(i), v, msg))
		}
	}
	if len(resources) == 0 {
		allErrs = append(allErrs, field.Required(fld.Child("resources"), `at least one resource is required ("*" for all)`))
	}
	for i, r := range resources {
		if r == "*" {
			continue
		}
		if r == "" || strings.Contains(r, "/") {
			allErrs = append(allErrs, field.Invalid(fld.Child("resources").Index(i), r, "must be a plural resource name without subresource, or '*'"))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(r) {
			allErrs = append(allErrs, field.Invalid(fld.Child("resources").Index(i), r, msg))
		}
	}
	return allErrs
}

func validateLocalRef(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "name is required")}
	}
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}

// ValidateConditions checks conditions written by the server's own status writer
// (a bug there must not persist malformed conditions).
func ValidateConditions(conds []metav1.Condition, fld *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conds, fld)
}
