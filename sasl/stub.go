package sasl

// Placeholders used while mechanisms are being written; deleted once every
// mechanism file is in.

type unimplementedServer struct{ name string }

func (s unimplementedServer) Next([]byte) ([]byte, bool, error) {
	return nil, false, ErrUnsupportedMechanism
}

func unimplementedClient(string) (Client, error) { return nil, ErrUnsupportedMechanism }
