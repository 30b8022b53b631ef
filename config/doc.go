// Package config is the etcd appliance's cluster configuration: its schema, strict parsing from
// YAML, JSON or an Ignition config, defaults, and validation that names the field at fault.
//
// The same document is given to every node as user-data. Parse reads YAML or JSON (JSON is
// YAML); FromIgnition reads an Ignition config carrying it; Load picks one of the two. Every
// problem is reported at once, as an *Errors whose Problems name a field path such as
// cluster.members[2].address and, when known, a line.
//
// # Reference, version 1
//
// Fields not listed here are errors. An empty value (name: with nothing after it, or null) is the
// same as leaving the field out. Strings must be strings: quote values such as 2024 or "yes".
//
//	version: 1                  required; the only version this image understands
//
//	cluster:                    omit for a single-node cluster
//	  name: prod-etcd           the initial cluster token. Required when members are listed.
//	                            1-63 of a-z, 0-9 and '-', starting and ending with a letter or digit
//	  members:                  the static initial cluster; 1 or more
//	    - name: etcd-a          the member's etcd name: same charset as cluster.name; unique
//	      address: 192.0.2.10   IPv4, IPv6 (no brackets, no zone) or a DNS name; unique; no port
//	                            or scheme: the URLs are https://ADDRESS:2379 and :2380
//	                            An even number of members, or more than 7, gives a warning.
//
//	node:
//	  name: etcd-a              optional: which member this machine is. Must be one of
//	                            cluster.members when they are listed; with no members, the name
//	                            of the single member. Default: the member whose address is one
//	                            of this machine's, else the metadata hostname.
//
//	tls:                        PEM texts (not file names). Omit entirely on a single node: it
//	                            makes its own CA. Required when cluster.members is listed.
//	  ca_cert: |                required when any tls field is set: one or more CA certificates
//	                            (basic constraints CA:TRUE; with ca_key, the one it belongs to
//	                            needs key usage certSign, when it lists key usages at all)
//	  ca_key: |                 optional: the unencrypted private key of ca_cert (PKCS#8, EC or
//	                            RSA PEM; an EC PARAMETERS block before it, as openssl ecparam
//	                            writes, is fine); nodes then issue their own certificates
//	  node_cert: |              required without ca_key, together with node_key: this node's
//	                            certificate (then intermediates), signed by ca_cert, with
//	                            extended key usages serverAuth and clientAuth (or none)
//	  node_key: |               the unencrypted private key of node_cert
//	                            Certificate validity dates are not checked here.
//
//	data:
//	  device: /dev/disk/by-id/virtio-etcd-data
//	                            optional: an absolute path under /dev/. Default (empty): the one
//	                            disk that is neither the OS disk nor in use, blank or labelled
//	                            etcd-data
//	  wipe: false               format the device even if it holds data. Requires data.device.
//
//	etcd:                       optional tuning; 0 or absent means the default
//	  heartbeat_interval_ms: 100      10 to 5000 (etcd's default 100)
//	  election_timeout_ms: 1000       5 heartbeat intervals to 50000, etcd's own limits
//	                                  (etcd's default 1000)
//	  quota_backend_bytes: 2147483648 64 MiB to 8 GiB, etcd's suggested maximum
//	                                  (etcd's default 2 GiB); lowered at boot to a quarter
//	                                  of the data volume when that is less (min 64 MiB)
//	  snapshot_count: 10000           at least 1 (etcd 3.6's default 10000)
//
//	restore:                    optional: seed a NEW cluster from an etcd snapshot
//	  source: https://backups.example/etcd.db   an http, https or file (file:///path) URL,
//	                            which requires sha256 and must fit in the tmpfs it is
//	                            fetched into (75% of RAM; a server silent for 2 minutes is
//	                            given up on); or s3://bucket/prefix, azblob://container/prefix
//	                            (the latest backup there) or one backup object in them, reached
//	                            with backup's endpoint and credentials (backup.url must name
//	                            the same bucket), bounded by the data volume
//	  sha256: 9f86d0…           64 hex digits of the snapshot; required with a URL source;
//	                            with a store source it picks the newest backup of that snapshot
//	  age_identity: AGE-SECRET-KEY-1…   decrypts backups made with backup.encrypt_to
//
//	snapshots:                  optional: scheduled snapshots, kept on each member's data volume
//	  interval_minutes: 360     5 to 10080 (one week); 0 or absent: none
//	  keep: 7                   1 to 1000 (default 7); the oldest beyond it are deleted
//
//	backup:                     optional: one backup of the cluster per interval, off the node
//	  url: s3://bucket/prefix   or azblob://container/prefix; required with any other field
//	  endpoint: https://minio.example:9000   empty for AWS; azblob: https://ACCOUNT.blob.core.windows.net
//	  path_style: true          S3 path-style requests (most stores other than AWS)
//	  region: us-east-1         S3 region (default us-east-1)
//	  access_key_id: AKIA…      static keys, both or neither; without them the platform's
//	  secret_access_key: …      identity (AWS instance role, Azure managed identity);
//	                            azblob: the account key in secret_access_key
//	  interval: 1h              a Go duration, 10s to 168h (default 1h)
//	  keep: 24                  1 to 10000 (default 24), plus the newest of each of 7 days
//	  encrypt_to: [age1…]       age recipients (public keys); empty: not encrypted
//	  verify_interval: 24h      optional: the uploader's scheduled restore drill
//
//	network:
//	  proxy: http://proxy.example:3128
//	                            optional: an http or https proxy URL (host and port, perhaps
//	                            user:password) for every fetch after the config is read:
//	                            restore.source and Ignition's remote contents. Not for metadata
//	                            services or etcd.config.url= (read before the config), nor for
//	                            etcd's traffic. HTTP_PROXY and the like are never read.
//
//	trust:
//	  ca_certs: [ … ]           optional, up to 16: PEM texts of CA certificates (CA:TRUE),
//	                            trusted beside the image's public CAs for the same fetches as
//	                            network.proxy. etcd.config.url= cannot use them: it pins its
//	                            CA with etcd.config.ca_sha256= instead.
//
//	ssh_authorized_keys:        optional: keys for root; without any, SSH is off. Each is one
//	  - ssh-ed25519 AAAA… me    authorized_keys line: [options] type base64-key [comment], type
//	                            one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521,
//	                            sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com
//
// # Ignition
//
// An Ignition config of spec 3.0.0 to 3.5.0 may carry the document above as the file
// /etc/etcd-appliance/config.yaml in storage.files, inline as a data: URL (base64 or
// percent-encoded, optionally gzip-compressed, optionally with a sha512-/sha256- verification
// hash of the decompressed contents). Without that file the node uses its defaults. Besides it:
//
//   - passwd.users: only root and core, which both mean the appliance's one SSH login (root);
//     only sshAuthorizedKeys may be given. Passwords and every other account field are errors.
//   - storage.files, storage.directories, storage.links: paths under /etc or /var, owned by
//     root, not under /var/lib/etcd (the data volume), not etcd.service or firstboot.service
//     or their drop-in directories under /etc/systemd/system. Contents are inline data: URLs,
//     https URLs, or http URLs with a verification.hash (plain http without one is refused),
//     that the node agent fetches (never following a redirect from https to http) and checks
//     against verification.hash.
//   - systemd.units with contents, dropins, enabled and mask. Unit and drop-in names are plain
//     file names. An enabled unit given with contents needs an [Install] section with WantedBy=
//     or RequiredBy=; one given without contents must be in the image (the node checks).
//   - ignition.security.tls.certificateAuthorities as inline data: URLs of CA certificates
//     (IgnitionExtras.CACerts): trusted like trust.ca_certs.
//
// Refused, because an immutable appliance cannot apply them or this package would have to fetch
// them: storage.disks, storage.raid, storage.luks, storage.filesystems, passwd.groups,
// kernelArguments, ignition.config.merge and replace, ignition.proxy (network.proxy says it),
// remote certificateAuthorities (a CA fetched safely needs a root of its own), httpHeaders on
// resources, s3, gs and arn
// sources (they need cloud credentials the image does not have), tftp sources, and keys
// Ignition does not know (Ignition itself only warns about those). Ignition's own warnings are
// passed on as Warnings. Files that exist in the image without overwrite, hard-link targets
// and units enabled without contents are checked by the node, which has the image.
package config
