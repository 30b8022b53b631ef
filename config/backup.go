package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/etcd-appliance/appliance/internal/backup"
)

// storeSchemes are the object stores backup.url and restore.source may name.
var storeSchemes = map[string]string{"s3": "bucket", "azblob": "container"}

// bucketRE is what S3 and Azure accept as a bucket or container name (the stricter of the two
// on length: 3 to 63).
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// IsStoreURL tells whether a restore.source or backup.url names an object store.
func IsStoreURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && storeSchemes[u.Scheme] != ""
}

// checkStoreURL accepts s3://bucket/prefix and azblob://container/prefix.
func checkStoreURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: expected s3://bucket/prefix or azblob://container/prefix", s)
	}
	what := storeSchemes[u.Scheme]
	switch {
	case what == "":
		return fmt.Errorf("%q: expected s3://bucket/prefix (AWS and S3-compatible stores) or azblob://container/prefix (Azure Blob Storage)", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "":
		return fmt.Errorf("%q: give only the %s and prefix; credentials go in access_key_id and secret_access_key, the store's address in endpoint", s, what)
	case !bucketRE.MatchString(u.Host):
		return fmt.Errorf("%q: %q is not a valid %s name: 3 to 63 lower-case letters, digits, '.' and '-'", s, u.Host, what)
	case strings.Contains(u.Path, "//") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/.."):
		return fmt.Errorf("%q: the prefix has an empty or '..' segment", s)
	}
	return nil
}

func (c *Config) validateBackup(errs *problems) {
	b := c.Backup
	if b.URL == "" {
		if b.Endpoint != "" || b.PathStyle || b.Region != "" || b.AccessKeyID != "" || b.SecretAccessKey != "" ||
			b.Interval != "" || b.Keep != 0 || len(b.EncryptTo) > 0 || b.VerifyInterval != "" {
			errs.add("backup.url", "required with the other backup fields: where backups go, e.g. s3://bucket/etcd/prod")
		}
		return
	}
	if err := checkStoreURL(b.URL); err != nil {
		errs.add("backup.url", "%v", err)
	}
	if b.Endpoint != "" {
		if u, err := url.Parse(b.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			errs.add("backup.endpoint", "%q: expected the store's base URL, such as https://minio.example:9000 (no path, no credentials)", b.Endpoint)
		}
	} else if strings.HasPrefix(b.URL, "azblob:") {
		errs.add("backup.endpoint", "required for azblob: the storage account's URL, https://ACCOUNT.blob.core.windows.net")
	}
	if strings.HasPrefix(b.URL, "azblob:") {
		if b.AccessKeyID != "" {
			errs.add("backup.access_key_id", "not used with azblob: the account is in backup.endpoint, its key in secret_access_key")
		}
		if b.PathStyle {
			errs.add("backup.path_style", "only for s3 URLs")
		}
	} else if (b.AccessKeyID == "") != (b.SecretAccessKey == "") {
		errs.add("backup.secret_access_key", "access_key_id and secret_access_key go together: give both, or neither to use the instance role (AWS)")
	}
	if d, err := time.ParseDuration(b.Interval); err != nil {
		errs.add("backup.interval", "%q is not a duration: expected e.g. 1h, 30m or 6h", b.Interval)
	} else if d < minBackupInterval || d > maxBackupInterval {
		errs.add("backup.interval", "%s is out of range: expected %s to %s (default %s)", b.Interval, minBackupInterval, maxBackupInterval, defaultBackupInterval)
	}
	if b.Keep < 1 || b.Keep > maxBackupKeep {
		errs.add("backup.keep", "%d is out of range: expected 1 to %d (default %d)", b.Keep, maxBackupKeep, defaultBackupKeep)
	}
	if _, err := backup.ParseRecipients(b.EncryptTo); err != nil {
		p := recipientPath(err)
		errs.add(p, "%v", strings.TrimPrefix(err.Error(), p+": "))
	}
	if b.VerifyInterval != "" && len(b.EncryptTo) > 0 {
		errs.add("backup.verify_interval", "encrypted backups cannot be drilled on the nodes, which hold only public keys: remove verify_interval and run firstboot backup verify --identity FILE instead")
	} else if b.VerifyInterval != "" {
		if d, err := time.ParseDuration(b.VerifyInterval); err != nil {
			errs.add("backup.verify_interval", "%q is not a duration: expected e.g. 24h", b.VerifyInterval)
		} else if d < minBackupInterval || d > maxBackupInterval {
			errs.add("backup.verify_interval", "%s is out of range: expected %s to %s, or leave it out for drills on demand only", b.VerifyInterval, minBackupInterval, maxBackupInterval)
		}
	}
}

// validateStoreRestore checks a restore from an object store: it is reached with backup's
// endpoint and credentials.
func (c *Config) validateStoreRestore(errs *problems) {
	r := c.Restore
	if err := checkStoreURL(r.Source); err != nil {
		errs.add("restore.source", "%v", err)
		return
	}
	src, _ := url.Parse(r.Source)
	bu, err := url.Parse(c.Backup.URL)
	switch {
	case c.Backup.URL == "":
		errs.add("restore.source", "an %s source is reached with backup's endpoint and credentials: add a backup section (backup.url, and endpoint and keys where needed); the restored cluster backs up there", src.Scheme)
	case err == nil && (bu.Scheme != src.Scheme || bu.Host != src.Host):
		errs.add("restore.source", "%s is not in backup.url's %s %s: a restore reads the store backup names (its endpoint and credentials)", r.Source, storeSchemes[bu.Scheme], bu.Host)
	}
	if r.AgeIdentity != "" {
		if _, err := backup.ParseIdentity(r.AgeIdentity); err != nil {
			errs.add("restore.age_identity", "%v", strings.TrimPrefix(err.Error(), "restore.age_identity: "))
		}
	}
}

// recipientPath is the field path in a backup.ParseRecipients error (backup.encrypt_to[N]).
func recipientPath(err error) string {
	if p, _, ok := strings.Cut(err.Error(), ": "); ok && strings.HasPrefix(p, "backup.encrypt_to[") {
		return p
	}
	return "backup.encrypt_to"
}
