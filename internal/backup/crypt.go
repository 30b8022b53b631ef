package backup

import (
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// ParseRecipients reads backup.encrypt_to: one public key per entry, each an age X25519
// key (age1…), an age post-quantum hybrid key (age1pq1…) or an OpenSSH ssh-ed25519 or
// ssh-rsa public key (as in authorized_keys, comment allowed). Errors name the entry:
// backup.encrypt_to[1]: ….
func ParseRecipients(lines []string) ([]age.Recipient, error) {
	var rs []age.Recipient
	pq := false
	for i, l := range lines {
		l = strings.TrimSpace(l)
		var (
			r   age.Recipient
			err error
		)
		switch {
		case l == "":
			err = errors.New("empty: give an age public key (age1…) or an SSH public key (ssh-ed25519 …)")
		case strings.HasPrefix(l, "AGE-SECRET-KEY-"):
			// not echoed: it is a secret
			err = errors.New("this is an age secret key: give its public key (age-keygen -y prints it), and keep the secret key off the nodes")
		case strings.HasPrefix(l, "age1pq1"):
			r, err = age.ParseHybridRecipient(l)
		case strings.HasPrefix(l, "age1"):
			r, err = age.ParseX25519Recipient(l)
		case strings.HasPrefix(l, "ssh-ed25519 "), strings.HasPrefix(l, "ssh-rsa "):
			r, err = agessh.ParseRecipient(l)
		default:
			err = fmt.Errorf("%q is not an age public key (age1…) nor an ssh-ed25519 or ssh-rsa public key", abbrev(l))
		}
		if err != nil {
			return nil, fmt.Errorf("backup.encrypt_to[%d]: %w", i, err)
		}
		// age refuses to mix them when encrypting; say so here, where the entry is known
		_, isPQ := r.(*age.HybridRecipient)
		if i == 0 {
			pq = isPQ
		} else if isPQ != pq {
			return nil, fmt.Errorf("backup.encrypt_to[%d]: post-quantum (age1pq1…) and classic recipients (age1…, ssh-…) cannot be mixed: the backup would be only as strong as the classic ones", i)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// ParseIdentity reads restore.age_identity: age secret keys (AGE-SECRET-KEY-1… or
// AGE-SECRET-KEY-PQ-1…), one a line, with blank lines and # comments, as age-keygen writes
// them; or one unencrypted OpenSSH private key (the pair of an ssh-ed25519 or ssh-rsa
// recipient). Errors never quote the text: it is secret.
func ParseIdentity(s string) ([]age.Identity, error) {
	if strings.Contains(s, "-----BEGIN") {
		id, err := agessh.ParseIdentity([]byte(s))
		var pass *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &pass):
			return nil, errors.New("restore.age_identity: the SSH private key is protected by a passphrase, which a node cannot type: use an age key (age-keygen), or a copy of the SSH key without passphrase (ssh-keygen -p)")
		case err != nil:
			return nil, fmt.Errorf("restore.age_identity: not an ssh-ed25519 or ssh-rsa private key in OpenSSH format: %w", err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(strings.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("restore.age_identity: %w: give the age secret keys (AGE-SECRET-KEY-1…) the backups were encrypted to, one a line", err)
	}
	return ids, nil
}

// abbrev keeps errors short when someone pastes a whole file into one entry.
func abbrev(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
