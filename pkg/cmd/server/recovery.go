package server

import (
	"path/filepath"

	"github.com/configbutler/gitops-reverser/pkg/apiserver"
	"github.com/configbutler/gitops-reverser/pkg/recovery"
	"github.com/configbutler/gitops-reverser/pkg/restore"
)

// addRecovery serves history (ObjectRevisions) and restores (GitRestores)
// when the server runs the lifecycle over a source cluster: both read the
// targets' branches, the restores write to that cluster. The history keeps
// its own read-only clones under <work-dir>/history, so every replica
// answers, whoever owns a branch's worker.
func (o *Options) addRecovery(extra *apiserver.ExtraConfig, src *sourceCluster) error {
	if !o.Lifecycle || src.kube == nil {
		return nil
	}
	svc, err := recovery.New(filepath.Join(o.WorkDir, "history"), src.resources)
	if err != nil {
		return err
	}
	o.recovery = svc
	o.restores = recovery.NewRestores(svc, src.config, restore.NewMapper(src.discovery))
	extra.Revisions, extra.RestorePlanner = svc, o.restores
	return nil
}
