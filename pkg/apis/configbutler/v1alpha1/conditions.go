package v1alpha1

// Condition types of a GitTarget: the five startup gates in pipeline order, and
// Ready, which the server computes from them on every read.
const (
	ConditionValidated            = "Validated"
	ConditionEncryptionConfigured = "EncryptionConfigured"
	ConditionBootstrapped         = "Bootstrapped"
	ConditionSnapshotSynced       = "SnapshotSynced"
	ConditionEventStreamLive      = "EventStreamLive"
	ConditionReady                = "Ready"
	ConditionReconciling          = "Reconciling"
)

// Gates are the startup gates in the order the lifecycle evaluates them.
var Gates = []string{
	ConditionValidated,
	ConditionEncryptionConfigured,
	ConditionBootstrapped,
	ConditionSnapshotSynced,
	ConditionEventStreamLive,
}

// Reasons, as the seed design's canonical reason set names them.
const (
	// Shared.
	ReasonOK         = "OK"
	ReasonBlocked    = "Blocked"
	ReasonNotStarted = "NotStarted"
	ReasonNotChecked = "NotChecked"

	// Validated.
	ReasonProviderNotFound = "ProviderNotFound"
	ReasonBranchNotAllowed = "BranchNotAllowed"
	ReasonTargetConflict   = "TargetConflict"

	// EncryptionConfigured.
	ReasonNotRequired          = "NotRequired"
	ReasonMissingSecret        = "MissingSecret"
	ReasonInvalidConfig        = "InvalidConfig"
	ReasonSecretCreateDisabled = "SecretCreateDisabled"

	// Bootstrapped.
	ReasonBootstrapApplied   = "BootstrapApplied"
	ReasonBootstrapNotNeeded = "BootstrapNotNeeded"
	ReasonWorkerNotFound     = "WorkerNotFound"
	ReasonBootstrapFailed    = "BootstrapFailed"

	// SnapshotSynced.
	ReasonRunning        = "Running"
	ReasonCompleted      = "Completed"
	ReasonSnapshotFailed = "SnapshotFailed"

	// Bootstrapped and SnapshotSynced: the clone or fetch of the branch would
	// download more than the server's --max-fetch-size.
	ReasonRepositoryTooLarge = "RepositoryTooLarge"

	// EventStreamLive.
	ReasonRegistered         = "Registered"
	ReasonRegistrationFailed = "RegistrationFailed"
	ReasonDisconnected       = "Disconnected"

	// Ready.
	ReasonValidationFailed        = "ValidationFailed"
	ReasonEncryptionNotConfigured = "EncryptionNotConfigured"
	ReasonBootstrapNotComplete    = "BootstrapNotComplete"
	ReasonInitialSyncInProgress   = "InitialSyncInProgress"
	ReasonStreamNotLive           = "StreamNotLive"
)

// ReadyReasonFor maps the first gate that is not True to the Ready reason the
// seed design gives it.
var ReadyReasonFor = map[string]string{
	ConditionValidated:            ReasonValidationFailed,
	ConditionEncryptionConfigured: ReasonEncryptionNotConfigured,
	ConditionBootstrapped:         ReasonBootstrapNotComplete,
	ConditionSnapshotSynced:       ReasonInitialSyncInProgress,
	ConditionEventStreamLive:      ReasonStreamNotLive,
}

// EncryptionProviderSOPS is the only supported encryption provider.
const EncryptionProviderSOPS = "sops"
