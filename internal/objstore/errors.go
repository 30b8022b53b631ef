package objstore

import "errors"

// opError is a failed operation, with what a caller needs to tell a wrong key from a missing
// object from anything else.
type opError struct {
	url    string // the object's URL; the store's for List
	op     string // put, get, stat, list, delete
	status int    // HTTP status; 0 when the store did not answer
	code   string // the store's error code: NoSuchKey, AuthenticationFailed, ...
	err    error
}

func (e *opError) Error() string { return e.url + ": " + e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// authCodes are the codes that say the credentials are wrong, expired or not allowed.
var authCodes = map[string]bool{
	// S3
	"AccessDenied":          true,
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"ExpiredToken":          true,
	"InvalidToken":          true,
	// Azure
	"AuthenticationFailed":            true,
	"AuthorizationFailure":            true,
	"AuthorizationPermissionMismatch": true,
	"InvalidAuthenticationInfo":       true,
}

// IsAuth is whether err is the store refusing the credentials or what they may do.
func IsAuth(err error) bool {
	var e *opError
	if !errors.As(err, &e) {
		return false
	}
	return authCodes[e.code] || e.status == 401 || e.status == 403
}

// IsNotFound is whether err says the object is missing. A missing bucket or container is
// not this: that is a configuration error, not an absent backup. (Except for Stat on S3,
// which answers HEAD with a bare 404 either way.)
func IsNotFound(err error) bool {
	var e *opError
	if !errors.As(err, &e) {
		return false
	}
	switch e.code {
	case "NoSuchKey", "BlobNotFound":
		return true
	case "":
		return e.status == 404
	}
	return false
}
