package backup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

func newX25519(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newSSH is an ed25519 key pair: the authorized_keys line and the OpenSSH private key,
// protected by passphrase when it is not empty.
func newSSH(t *testing.T, passphrase string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " ops@example", string(pem.EncodeToMemory(block))
}

func TestParseRecipients(t *testing.T) {
	x := newX25519(t)
	x2 := newX25519(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	sshPub, _ := newSSH(t, "")
	tests := []struct {
		name    string
		lines   []string
		n       int
		wantErr string
	}{
		{name: "none", lines: nil},
		{name: "x25519", lines: []string{x.Recipient().String(), " " + x2.Recipient().String() + " "}, n: 2},
		{name: "ssh and age", lines: []string{x.Recipient().String(), sshPub}, n: 2},
		{name: "post-quantum", lines: []string{pq.Recipient().String()}, n: 1},
		{name: "empty entry", lines: []string{x.Recipient().String(), ""}, wantErr: "backup.encrypt_to[1]: empty"},
		{name: "bad age key", lines: []string{"age1notakey"}, wantErr: "backup.encrypt_to[0]: malformed recipient"},
		{name: "secret key", lines: []string{x.String()}, wantErr: "backup.encrypt_to[0]: this is an age secret key"},
		{name: "bad ssh key", lines: []string{"ssh-ed25519 AAAAnope"}, wantErr: "backup.encrypt_to[0]: malformed SSH recipient"},
		{name: "ecdsa", lines: []string{"ecdsa-sha2-nistp256 AAAA"}, wantErr: `backup.encrypt_to[0]: "ecdsa-sha2-nistp256 AAAA" is not an age public key`},
		{name: "mixed pq", lines: []string{x.Recipient().String(), pq.Recipient().String()}, wantErr: "backup.encrypt_to[1]: post-quantum (age1pq1…) and classic recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := ParseRecipients(tt.lines)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
					t.Errorf("error quotes a secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != tt.n {
				t.Errorf("%d recipients, want %d", len(rs), tt.n)
			}
		})
	}
}

func TestParseIdentity(t *testing.T) {
	x, x2 := newX25519(t), newX25519(t)
	_, sshKey := newSSH(t, "")
	_, sshLocked := newSSH(t, "secret")
	tests := []struct {
		name    string
		text    string
		n       int
		wantErr string
	}{
		{name: "one", text: x.String(), n: 1},
		{name: "age-keygen file", text: "# created: 2026-12-04\n# public key: " + x.Recipient().String() + "\n" + x.String() + "\n\n" + x2.String() + "\n", n: 2},
		{name: "ssh", text: sshKey, n: 1},
		{name: "empty", text: "", wantErr: "restore.age_identity: no identities found"},
		{name: "public key", text: x.Recipient().String(), wantErr: "restore.age_identity: error at line 1: unknown identity type"},
		{name: "damaged", text: x.String()[:len(x.String())-2], wantErr: "restore.age_identity: error at line 1: malformed secret key"},
		{name: "ssh passphrase", text: sshLocked, wantErr: "restore.age_identity: the SSH private key is protected by a passphrase"},
		{name: "ssh garbage", text: "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n", wantErr: "restore.age_identity: not an ssh-ed25519 or ssh-rsa private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := ParseIdentity(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != tt.n {
				t.Errorf("%d identities, want %d", len(ids), tt.n)
			}
		})
	}
}

// TestSSHPair: what an ssh-ed25519 recipient encrypts, its private key decrypts.
func TestSSHPair(t *testing.T) {
	pub, priv := newSSH(t, "")
	rs, err := ParseRecipients([]string{pub})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentity(priv)
	if err != nil {
		t.Fatal(err)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, rs...)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello")
	w.Close()
	r, err := age.Decrypt(&ct, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "hello" {
		t.Errorf("decrypted %q", b)
	}
}
