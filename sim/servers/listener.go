package servers

import "net"

// AdvertListener is a net.Listener whose Addr reports Advert instead of the
// address it really listens on. kfake advertises a broker's listener
// address in metadata, so wrapping its listener makes clients dial Advert
// (a proxy) for every connection, metadata-directed ones included.
type AdvertListener struct {
	net.Listener
	// Advert is the host:port reported by Addr.
	Advert string
}

// Addr returns Advert as a TCP address, or the real address if Advert does
// not resolve.
func (l AdvertListener) Addr() net.Addr {
	a, err := net.ResolveTCPAddr("tcp", l.Advert)
	if err != nil {
		return l.Listener.Addr()
	}
	return a
}
