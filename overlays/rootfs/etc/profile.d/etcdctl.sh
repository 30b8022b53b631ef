# etcdctl talks to this node's cluster with this node's client certificate: firstboot writes
# the endpoints and certificate paths at every boot.
if [ -r /run/etcd-appliance/etcdctl.env ]; then
	set -a
	. /run/etcd-appliance/etcdctl.env
	set +a
fi
