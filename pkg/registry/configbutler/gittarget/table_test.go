package gittarget

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

func target(name string, conds ...metav1.Condition) *configbutler.GitTarget {
	return &configbutler.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sut", ResourceVersion: "42", CreationTimestamp: metav1.NewTime(time.Now().Add(-2 * time.Minute))},
		Spec:       configbutler.GitTargetSpec{ProviderRef: configbutler.GitProviderReference{Name: "main-provider"}, Branch: "main", Path: "clusters/prod"},
		Status: configbutler.GitTargetStatus{
			Conditions: conds, LastCommit: "a12f67b7c744eeb5ee0a6d7b0d5ea32b5159cf3f",
			Snapshot: &configbutler.SnapshotStatus{Stats: configbutler.SnapshotStats{Created: 12, Updated: 3, Deleted: 2}},
		},
	}
}

func c(typ, status, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg, ObservedGeneration: 1,
		LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Minute))}
}

func TestTableRowsForListAndWide(t *testing.T) {
	blocked := target("blocked", c("Validated", "False", "ProviderNotFound", "Referenced GitProvider 'sut/main-provider' not found"))
	running := target("running",
		c("Validated", "True", "OK", ""), c("EncryptionConfigured", "True", "NotRequired", ""),
		c("Bootstrapped", "True", "BootstrapApplied", ""), c("SnapshotSynced", "False", "Running", "Initial snapshot reconciliation in progress"))
	list := &configbutler.GitTargetList{ListMeta: metav1.ListMeta{ResourceVersion: "77", Continue: "next"}, Items: []configbutler.GitTarget{*blocked, *running}}

	tbl, err := Table.ConvertToTable(context.Background(), list, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, col := range tbl.ColumnDefinitions {
		if col.Priority == 0 {
			names = append(names, col.Name)
		}
	}
	want := []string{"Name", "Provider", "Branch", "Path", "Ready", "Reason", "Last Commit", "Age"}
	if len(names) != len(want) {
		t.Fatalf("columns %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("columns %v, want %v", names, want)
		}
	}
	if tbl.ResourceVersion != "77" || tbl.Continue != "next" || len(tbl.Rows) != 2 {
		t.Fatalf("list metadata or rows wrong: rv=%s continue=%s rows=%d", tbl.ResourceVersion, tbl.Continue, len(tbl.Rows))
	}
	r0, r1 := tbl.Rows[0].Cells, tbl.Rows[1].Cells
	if r0[0] != "blocked" || r0[1] != "main-provider" || r0[2] != "main" || r0[3] != "clusters/prod" ||
		r0[4] != "False" || r0[5] != "ValidationFailed" || r0[6] != "a12f67b" || r0[7] != "2m" ||
		r0[8] != "Validated" || r0[9] != "Referenced GitProvider 'sut/main-provider' not found" {
		t.Errorf("row 0 = %v", r0)
	}
	if r1[4] != "False" || r1[5] != "InitialSyncInProgress" || r1[8] != "SnapshotSynced" {
		t.Errorf("row 1 = %v", r1)
	}
	if tbl.Rows[0].Object.Object == nil {
		t.Error("row does not carry its object")
	}

	noHeaders, _ := Table.ConvertToTable(context.Background(), blocked, &metav1.TableOptions{NoHeaders: true})
	if len(noHeaders.ColumnDefinitions) != 0 || len(noHeaders.Rows) != 1 || noHeaders.ResourceVersion != "42" {
		t.Errorf("single object without headers: %+v", noHeaders)
	}
}

func TestGatesTableOneRowPerGateThenReady(t *testing.T) {
	tg := target("x", c("Validated", "True", "OK", "Provider and branch validation passed"),
		c("EncryptionConfigured", "False", "SecretCreateDisabled", "Encryption secret sut/sops-age-key is missing and generateWhenMissing is false"))
	view := GatesView(tg).(*configbutler.GitTargetGates)
	if view.Ready || view.BlockingGate != "EncryptionConfigured" || view.Reason != "SecretCreateDisabled" {
		t.Fatalf("gates view %+v", view)
	}
	tbl, err := GatesTable.ConvertToTable(context.Background(), view, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"Validated", "True"}, {"EncryptionConfigured", "False"}, {"Bootstrapped", "Unknown"},
		{"SnapshotSynced", "Unknown"}, {"EventStreamLive", "Unknown"}, {"Ready", "False"}}
	if len(tbl.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(tbl.Rows), len(want))
	}
	for i, w := range want {
		if tbl.Rows[i].Cells[0] != w[0] || tbl.Rows[i].Cells[1] != w[1] {
			t.Errorf("row %d = %v, want %v", i, tbl.Rows[i].Cells[:2], w)
		}
	}
	if got := tbl.Rows[5].Cells[2]; got != "EncryptionNotConfigured" {
		t.Errorf("Ready reason %v", got)
	}
}

func TestSnapshotTableShowsStats(t *testing.T) {
	tg := target("x", c("SnapshotSynced", "False", "Running", "Initial snapshot reconciliation in progress"))
	tbl, err := SnapshotTable.ConvertToTable(context.Background(), SnapshotView(tg), nil)
	if err != nil {
		t.Fatal(err)
	}
	cells := tbl.Rows[0].Cells
	if cells[1] != "False" || cells[2] != "Running" || cells[3] != int32(12) || cells[4] != int32(3) || cells[5] != int32(2) {
		t.Errorf("snapshot row %v", cells)
	}
}
