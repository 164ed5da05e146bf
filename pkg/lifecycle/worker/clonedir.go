package worker

import (
	"os"
	"path/filepath"
	"regexp"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// CloneDirName is the directory of a worker's clone under the work dir
// (gitmodel.CloneDirName: injective over the whole key, provider included).
func CloneDirName(k mirror.BranchKey) string {
	return gitmodel.CloneDirName(k.Repo, k.Branch, k.Provider)
}

// currentCloneDir matches the names CloneDirName makes.
var currentCloneDir = regexp.MustCompile(`@[A-Za-z0-9._-]*-[0-9a-f]{32}$`)

// removeLegacyClones removes clones named the way earlier versions named
// them (without the key's hash): they are never opened again, and a clone can
// be large. Losing one costs the worker a fresh clone and a full snapshot.
func removeLegacyClones(workDir string) {
	entries, err := os.ReadDir(workDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || currentCloneDir.MatchString(e.Name()) || !isLegacyClone(e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(workDir, e.Name())); err != nil {
			klog.InfoS("Removing a clone of an earlier version failed", "dir", e.Name(), "err", err)
			continue
		}
		klog.InfoS("Removed a clone of an earlier version (its name did not identify one worker)", "dir", e.Name())
	}
}

// legacyCloneDir matches names of earlier versions: the sanitized repository
// and branch joined by '@' (no '/', ':', '#' or '\' in either part).
var legacyCloneDir = regexp.MustCompile(`^[^/:#\\@]+@[^/:#\\@]+$`)

func isLegacyClone(name string) bool { return legacyCloneDir.MatchString(name) }
