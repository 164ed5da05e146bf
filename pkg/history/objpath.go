package history

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Object identifies the object a file under a target path holds (the layout
// of pkg/render: <targetPath>/<group>/<version>/<resource>/<namespace>/<name>.yaml,
// no <group> for the core group, no <namespace> for a cluster-scoped object,
// Secrets in <name>.sops.yaml).
type Object struct {
	// Group ("" for the core group), Version and Resource of the object.
	Group, Version, Resource string
	// Namespace of the object, "" for a cluster-scoped one.
	Namespace string
	// Name of the object; "" when Shortened.
	Name string
	// Shortened: the file name was shortened (render.FileStem), the name is
	// only in the file: see NameFromContent.
	Shortened bool

	stem, ext string
}

// isKubeVersion matches Kubernetes API versions, v[1-9][0-9]* optionally
// followed by alpha or beta and [1-9][0-9]* (v1, v1beta2, v2alpha1). A path's
// first segment that is one names a core-group object; anything else there is
// a group.
func isKubeVersion(s string) bool {
	rest, ok := strings.CutPrefix(s, "v")
	if !ok {
		return false
	}
	n, rest := leadingNumber(rest)
	if n == 0 {
		return false
	}
	if rest == "" {
		return true
	}
	if rest, ok = strings.CutPrefix(rest, "alpha"); !ok {
		if rest, ok = strings.CutPrefix(rest, "beta"); !ok {
			return false
		}
	}
	n, rest = leadingNumber(rest)
	return n > 0 && rest == ""
}

// leadingNumber returns the length of the number without leading zeros that
// s starts with (0 if none), and the rest.
func leadingNumber(s string) (int, string) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, s
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i, s[i:]
}

// ParsePath maps a file back to the object it holds: path (in the repository)
// must be under targetPath ("" for the repository's root) in render's layout.
// ok is false for any other file (a README, a nested directory, a name no
// object can have).
func ParsePath(targetPath, path string) (obj Object, ok bool) {
	rest := path
	if t := strings.Trim(targetPath, "/"); t != "" {
		if rest, ok = strings.CutPrefix(path, t+"/"); !ok {
			return Object{}, false
		}
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 3 || len(segs) > 5 {
		return Object{}, false
	}
	if isKubeVersion(segs[0]) {
		obj.Version, obj.Resource = segs[0], segs[1]
		segs = segs[2:]
	} else {
		if len(segs) < 4 || len(validation.IsDNS1123Subdomain(segs[0])) != 0 || len(validation.IsDNS1123Label(segs[1])) != 0 {
			return Object{}, false
		}
		obj.Group, obj.Version, obj.Resource = segs[0], segs[1], segs[2]
		segs = segs[3:]
	}
	if len(validation.IsDNS1123Label(obj.Resource)) != 0 {
		return Object{}, false
	}
	switch len(segs) {
	case 1:
	case 2:
		if len(validation.IsDNS1123Label(segs[0])) != 0 {
			return Object{}, false
		}
		obj.Namespace = segs[0]
	default:
		return Object{}, false
	}
	obj.ext = render.Ext
	if obj.Group == "" && obj.Resource == "secrets" {
		obj.ext = render.SecretExt
	}
	file := segs[len(segs)-1]
	if obj.stem, ok = strings.CutSuffix(file, obj.ext); !ok {
		return Object{}, false
	}
	obj.Name, obj.Shortened, ok = render.ParseStem(obj.stem, obj.ext)
	if !ok {
		return Object{}, false
	}
	return obj, true
}

// NameFromContent returns the object's name: Name, or for a shortened file
// name the metadata.name of the file's content (a SOPS file keeps metadata
// in clear), when the file name is indeed the one that name is written to.
func (o Object) NameFromContent(content []byte) (string, bool) {
	if !o.Shortened {
		return o.Name, o.Name != ""
	}
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(content, &m); err != nil || m.Metadata.Name == "" {
		return "", false
	}
	if render.FileStem(m.Metadata.Name, o.ext) != o.stem {
		return "", false
	}
	return m.Metadata.Name, true
}
