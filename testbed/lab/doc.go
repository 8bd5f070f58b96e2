// Package lab runs containerlab topology files (*.clab.yml) without Docker:
// one network namespace per node, veth pairs for the links, the nodes'
// sysctls and exec lines, binds as path rewriting. Several labs can run at
// once in one process (every namespace name carries a unique lab id), and
// every lab is removed by Down, by a reaper process if its owner dies, and by
// Clean for leftovers of crashed runs. Tests use Up and the Lab methods to run
// processes and open sockets inside nodes; see package labtest for helpers.
package lab
