// Package datavol finds, checks, formats, mounts and grows the node's data volume: the one
// disk that holds all of the appliance's state, mounted at /var/lib/etcd. The node agent runs
// it at every boot, before etcd, as root.
//
// # Never destroy data
//
// Which device to use, and whether it may be formatted, is decided before anything is written.
// A device that holds anything at all (a partition table, a filesystem, or any non-zero byte in
// its first or last MiB) is never formatted unless the config names it in data.device and sets
// data.wipe: true. Only the identity check needs the volume mounted (e2fsck -p and mounting write
// nothing but filesystem bookkeeping); a volume that fails it is unmounted and left as it was. Blankness is
// judged from the bytes on the device, not from udev or blkid: the agent may run before udev
// has processed the disks, so /dev/disk/by-label is not used either. Disks are listed from
// /sys/block and read directly.
//
// # Which device
//
//  1. data.device, when set (a /dev path, symlinks such as /dev/disk/by-id/… followed). It must
//     not be in use (mounted, swap, or held by device-mapper/md), and must be blank or ours
//     unless data.wipe is set.
//  2. Otherwise the disk or partition carrying an ext4 filesystem labelled etcd-data ("ours").
//     Two of them is an error naming both: the agent does not guess.
//  3. Otherwise the one whole disk that is blank, not in use (so not the OS disk), writable and
//     not removable media. None, or more than one, is an error listing every disk and what it
//     holds, with the fix.
//
// # Whole disk, no partition table
//
// A new volume gets ext4 (label etcd-data) on the whole disk, with no partition table. Growing a
// cloud volume then needs only an online resize2fs, with no partition to grow first, and it is
// what the clouds' own documentation does for data volumes. A partition that carries an
// etcd-data ext4 filesystem is still accepted as ours; growing it is the owner's business.
//
// # Whose volume
//
// The volume records the cluster, CA fingerprint and member it belongs to in
// appliance/volume.json. A volume of another cluster (or, in a multi-member cluster, of another
// member) is refused, and unmounted again. With data.wipe: true it is erased and formatted
// instead. data.wipe never erases the volume of this very cluster and member, so a config that
// keeps data.wipe: true does not lose the data at the next boot: wipe means "erase whatever is
// there unless it is already this node's volume".
//
// # Formatting, mounting, growing
//
// mkfs.ext4 -L etcd-data -m 0, keeping the journal (etcd fsyncs its WAL and needs the
// filesystem's metadata to survive a crash); no root reserve, as etcd does not run as root.
// Every mount is preceded by e2fsck -p, as distributions do at boot; exit codes 1 and 2
// (repaired) are fine, 4 and up stop the boot with e2fsck's output. The volume is mounted
// noatime,nodev,nosuid,noexec,dirsync,errors=remount-ro. A device larger than its filesystem by
// more than 1 MiB is grown online with resize2fs after the identity check.
//
// The agent needs mkfs.ext4, e2fsck and resize2fs in PATH, and CAP_SYS_ADMIN (mount) and
// CAP_SYS_RESOURCE (the kernel's online resize) — root with the default capabilities.
//
// Prepare runs all of this in order; Scan, Select, Format, Mount, Grow and the Identity
// functions are the steps, exported for the agent's tests and diagnostics.
package datavol
