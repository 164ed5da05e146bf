package v1alpha1

import (
	"slices"
	"testing"
)

// TestPushAt: maxCommits (the seed system's spelling) makes a push due
// sooner than maxChanges when smaller; never less than one change.
func TestPushAt(t *testing.T) {
	n := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		p    PushPolicy
		want int
	}{
		{PushPolicy{MaxChanges: 500}, 500},
		{PushPolicy{MaxChanges: 500, MaxCommits: n(20)}, 20},
		{PushPolicy{MaxChanges: 10, MaxCommits: n(20)}, 10},
		{PushPolicy{MaxCommits: n(3)}, 3},
		{PushPolicy{}, 1},
	} {
		if got := tc.p.PushAt(); got != tc.want {
			t.Errorf("%+v: PushAt %d, want %d", tc.p, got, tc.want)
		}
	}
}

// TestEncryptionSpellings: encryption is on without an age block or with
// age.enabled; generateWhenMissing in either spelling; the public keys only
// from the age block.
func TestEncryptionSpellings(t *testing.T) {
	keys := []string{"age1x"}
	for _, tc := range []struct {
		name      string
		e         *EncryptionSpec
		on, gen   bool
		published []string
	}{
		{"none", nil, false, false, nil},
		{"ours", &EncryptionSpec{GenerateWhenMissing: true}, true, true, nil},
		{"age disabled", &EncryptionSpec{Age: &AgeEncryption{Recipients: AgeRecipients{PublicKeys: keys}}}, false, false, keys},
		{"age enabled", &EncryptionSpec{Age: &AgeEncryption{Enabled: true, Recipients: AgeRecipients{GenerateWhenMissing: true, PublicKeys: keys}}}, true, true, keys},
	} {
		if tc.e.On() != tc.on || tc.e.Generates() != tc.gen || !slices.Equal(tc.e.PublicKeys(), tc.published) {
			t.Errorf("%s: On %v Generates %v PublicKeys %v, want %v %v %v", tc.name, tc.e.On(), tc.e.Generates(), tc.e.PublicKeys(), tc.on, tc.gen, tc.published)
		}
	}
}

// TestGroupsOf: a rule without apiGroups matches every group.
func TestGroupsOf(t *testing.T) {
	if got := GroupsOf(nil); !slices.Equal(got, []string{"*"}) {
		t.Errorf("GroupsOf(nil) = %v", got)
	}
	if got := GroupsOf([]string{"", "apps"}); !slices.Equal(got, []string{"", "apps"}) {
		t.Errorf("GroupsOf kept %v", got)
	}
}
