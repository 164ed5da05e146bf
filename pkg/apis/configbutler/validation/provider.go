package validation

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
)

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
		allErrs = append(allErrs, validateSecretRef(*s.SecretRef, fld.Child("secretRef"))...)
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
	allErrs = append(allErrs, validateMaxCommits(s.Push.MaxCommits, fld.Child("push", "maxCommits"))...)
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
