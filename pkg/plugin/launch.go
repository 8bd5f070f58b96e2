package plugin

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	goplugin "github.com/hashicorp/go-plugin"
)

// deathSignal is what the kernel sends a plugin when the node dies (see
// startPinned): SIGKILL, because a plugin must end, not get a chance to stay.
const deathSignal = syscall.SIGKILL

// pluginCmd returns the command that runs a plugin executable: its environment
// is env (the filtered one, see pluginEnv), and the kernel kills it when the
// thread that forks it ends (Pdeathsig).
func pluginCmd(path string, env []string) *exec.Cmd {
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: deathSignal}
	return cmd
}

// process is a started go-plugin client whose forking thread is held (see
// startPinned). Its methods are the client's; Kill also lets the thread go.
type process struct {
	*goplugin.Client
	release func()
}

// Kill ends the plugin process (go-plugin's Kill waits for it) and then the
// thread that forked it.
func (p *process) Kill() {
	p.Client.Kill()
	p.release()
}

// RPC is the started client's go-plugin connection (Client.Client, which the
// embedded field's name hides).
func (p *process) RPC() (goplugin.ClientProtocol, error) { return p.Client.Client() }

// startProcess starts client's process (its Cmd made by pluginCmd) with
// startPinned.
func startProcess(client *goplugin.Client) (*process, error) {
	release, err := startPinned(func() error {
		_, err := client.Start()
		return err
	})
	if err != nil {
		client.Kill() // what Start left behind (its process is killed already)
		return nil, err
	}
	return &process{Client: client, release: release}, nil
}

// startPinned runs start, which forks a child with Pdeathsig, on a goroutine
// locked to its OS thread, and keeps that goroutine (and so the thread) parked
// until release is called.
//
// Pdeathsig fires when the *thread* that forked the child ends, not the
// process (prctl(2), and golang/go#27505). Go moves goroutines between threads
// and ends a thread when a goroutine that locked it exits without unlocking
// it, so a child forked from an ordinary goroutine may be killed at a random
// moment when some unrelated code (LockOSThread for a namespace switch, say)
// retires the thread it was forked from. Holding the forking thread for the
// child's life leaves exactly two ways for it to end: the node process dying
// (the point) and release.
//
// release is called after the child is gone. The goroutine then exits still
// locked, so the runtime ends the thread, and any child still alive at that
// point (none, normally) gets its death signal. If start fails the thread ends
// at once, with the same effect on a child start left behind.
func startPinned(start func() error) (release func(), err error) {
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		err := start()
		errc <- err
		if err != nil {
			return
		}
		<-done
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }, nil
}
