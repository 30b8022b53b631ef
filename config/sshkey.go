package config

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// checkAuthorizedKey does a structural check of one authorized_keys line: optional options, a
// known key type, and a base64 key blob whose embedded type is the declared one. It catches
// truncated and mangled pastes without a full SSH implementation.
func checkAuthorizedKey(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("spans several lines: give one key per list entry, on one line")
	}
	rest := strings.TrimSpace(line)
	if rest == "" || strings.HasPrefix(rest, "#") {
		return errors.New("empty: expected a public key line such as \"ssh-ed25519 AAAAC3Nz… user@host\"")
	}
	typ, rest := cutToken(rest)
	if !knownKeyType(typ) && typ != "ssh-dss" {
		// authorized_keys lines may start with options (from="…",no-pty) before the type.
		typ, rest = cutToken(rest)
	}
	if typ == "ssh-dss" {
		return errors.New("DSA keys are disabled in current OpenSSH: use an ssh-ed25519 key (ssh-keygen -t ed25519)")
	}
	if !knownKeyType(typ) {
		return errors.New("expected a public key line starting with its type: ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com (the contents of a .pub file, not the private key)")
	}
	b64, _ := cutToken(rest)
	if b64 == "" {
		return fmt.Errorf("%s key has no key data after its type: paste the whole .pub line", typ)
	}
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%s key data is not valid base64 (truncated or mangled?): paste the whole .pub line: %w", typ, err)
	}
	if len(blob) < 4 || int(binary.BigEndian.Uint32(blob)) > len(blob)-4 {
		return fmt.Errorf("%s key data is too short: paste the whole .pub line", typ)
	}
	if inner := string(blob[4 : 4+binary.BigEndian.Uint32(blob)]); inner != typ {
		return fmt.Errorf("key data is a %q key but the line says %q: paste the .pub line unchanged", inner, typ)
	}
	return nil
}

func knownKeyType(t string) bool {
	switch t {
	case "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
		"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com":
		return true
	}
	return false
}

// cutToken splits off the first blank-separated token, keeping quoted option values whole.
func cutToken(s string) (token, rest string) {
	s = strings.TrimLeft(s, " \t")
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted && i+1 < len(s):
			i++
		case c == '"':
			quoted = !quoted
		case (c == ' ' || c == '\t') && !quoted:
			return s[:i], strings.TrimLeft(s[i:], " \t")
		}
	}
	return s, ""
}
