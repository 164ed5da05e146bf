/*
Copyright The gitops-reverser Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

/*
Package sops encrypts Kubernetes Secret manifests into the SOPS file format
(https://github.com/getsops/sops) with age (filippo.io/age) recipients, and
decrypts them again.

# Why SOPS

Secrets mirrored into Git must never be stored in plaintext, yet the files
should stay useful to humans and tools: `sops -d x.sops.yaml` decrypts them,
Flux's kustomize-controller decrypts them natively from an `.agekey` Secret,
and because only the values under `data`, `stringData` and
`metadata.annotations` are encrypted, the rest of the manifest (name,
namespace, labels, annotation keys, type) stays readable and diffable in Git.
Annotation values are encrypted because a tenant's annotation may hold a
token as well as data does; labels are selectors and stay readable (do not
put secrets in labels). The files written here are byte-for-byte what
`sops -d` (v3.13.3) accepts: same value encoding, same additional data, same
MAC, same metadata block.

The sops module itself is not imported: its dependency graph (every cloud KMS
SDK) is far larger than the small subset implemented here.

# Format

A SOPS YAML file is the plaintext document with every selected leaf value
replaced by

	ENC[AES256_GCM,data:<b64 ciphertext>,iv:<b64 32-byte IV>,tag:<b64 GCM tag>,type:<str|int|float|bool|time>]

encrypted with AES-256-GCM under a random 32-byte data key. The additional
authenticated data of a value is its path of mapping keys joined and
terminated by ":" (for example "data:password:"; sequence indexes are not part
of the path). Empty strings are left as "" (sops does the same; its value
grammar cannot express an empty ciphertext).

Which leaves are encrypted follows sops' `encrypted_regex` rule, here
`^(data|stringData|annotations)$`, recorded in every file's metadata: a leaf
is encrypted when ANY key on its path matches, so a key named "data" nested
anywhere (say, a label) is encrypted too. That is what `sops -d` expects, so
this package must agree. Files written under the earlier rule
`^(data|stringData)$` decrypt as before (each file names its rule); Stale
reports them, so that they are encrypted again.

The MAC is the uppercase hex SHA-512 over the byte form of every leaf value in
document order (plaintext values, before encryption; sops'
`mac_only_encrypted` is false), encrypted like a value with the
`sops.lastmodified` timestamp (RFC 3339) as additional data. The data key is
age-encrypted once per recipient and stored ASCII-armored in `sops.age`. A
data key and its stanzas are shared by up to 1,000 files encrypted to the
same recipients within 10 minutes (datakeys.go): wrapping a key per file was
half the cost of encrypting a large snapshot, and a shared key opens nothing
that one recipient's identity does not already open.

# Layout

Input is parsed with go.yaml.in/yaml/v3, the parser sops uses, so scalar types
(and therefore MAC bytes) are exactly what sops computes. Output is written
with go.yaml.in/yaml/v2, the emitter behind sigs.k8s.io/yaml, keeping key
order: for a manifest rendered by sigs.k8s.io/yaml, Decrypt(Encrypt(x)) is
byte-identical to x, which is what lets callers detect an unchanged Secret by
comparing plaintexts. Other inputs come back in that canonical layout (2-space
indent, sequences not indented); Normalize produces it for any input, so
comparing Decrypt(stored) with Normalize(rendered) works for any renderer. Comments, anchors/aliases and multi-document
input are rejected by Encrypt; Decrypt ignores comments (sops never MACs
them).

# Bounds

Files to decrypt come from a tenant's repository. Before parsing, a pass over
the bytes refuses what neither this package nor the sops CLI writes: flow
collections (other than [] and {}) and more than MaxNodes YAML nodes; the
sops metadata holds at most MaxAgeEntries age entries of at most
MaxAgeEncSize bytes, with MaxAgeEntries stanzas together. Past them Decrypt
fails with ErrOutOfBounds and Stale reports the file, which callers then
replace like any file that does not decrypt. See bounds.go.
*/
package sops
