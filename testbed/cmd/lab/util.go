package main

import (
	"net"
	"sort"
)

// netInterfaces lists "ifname=addr/len" for the IPv4 addresses of the calling
// thread's namespace (loopback left out).
func netInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				out = append(out, ifi.Name+"="+ipn.String())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}
