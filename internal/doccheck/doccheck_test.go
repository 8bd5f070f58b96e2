package doccheck

import (
	"reflect"
	"testing"
)

func TestMarkdown(t *testing.T) {
	md := "text meshnode up (not in a block)\n" +
		"```sh\n" +
		"# at home: serve\n" +
		"meshnode up --group home --rendezvous vps:7749 \\\n" +
		"    --secret-file /etc/s --serve 700=127.0.0.1:22,name=ssh &\n" +
		"meshnode map 700 2222          # or: meshnode map ssh@home 2222\n" +
		"npm install -g x && rendezvous --listen :7749\n" +
		"go build -o bin/meshnode ./cmd/meshnode\n" +
		"docker exec -d clab-x /opt/meshnode/bin/meshnode --state /tmp/mn peers   # path\n" +
		"for n in a b; do meshnode --name \"$n x\" id; done\n" +
		"rendezvous keygen --label home >> /etc/keys 2>/dev/null\n" +
		"meshnode id 2>&1 >out < in | tee x\n" +
		"```\n" +
		"```toml\nrendezvous = \"vps:7749\"\n```\n"
	got := Markdown(md, "meshnode", "rendezvous")
	want := []Command{
		{Line: 4, Prog: "meshnode", Args: []string{"up", "--group", "home", "--rendezvous", "vps:7749", "--secret-file", "/etc/s", "--serve", "700=127.0.0.1:22,name=ssh"}},
		{Line: 6, Prog: "meshnode", Args: []string{"map", "700", "2222"}},
		{Line: 7, Prog: "rendezvous", Args: []string{"--listen", ":7749"}},
		{Line: 9, Prog: "meshnode", Args: []string{"--state", "/tmp/mn", "peers"}},
		{Line: 10, Prog: "meshnode", Args: []string{"--name", "$n x", "id"}},
		{Line: 11, Prog: "rendezvous", Args: []string{"keygen", "--label", "home"}},
		{Line: 12, Prog: "meshnode", Args: []string{"id"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d commands: %+v", len(got), got)
	}
	for i := range want {
		if got[i].Line != want[i].Line || got[i].Prog != want[i].Prog || !reflect.DeepEqual(got[i].Args, want[i].Args) {
			t.Errorf("command %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestGenerated(t *testing.T) {
	doc := "a\n<!-- BEGIN keys: go test -update -->\nold\n<!-- END keys -->\nb\n"
	if got, err := Generated(doc, "keys"); err != nil || got != "old\n" {
		t.Fatalf("%q %v", got, err)
	}
	nd, err := Replace(doc, "keys", "new\n")
	if err != nil || nd != "a\n<!-- BEGIN keys: go test -update -->\nnew\n<!-- END keys -->\nb\n" {
		t.Fatalf("%q %v", nd, err)
	}
	if _, err := Generated(doc, "other"); err == nil {
		t.Fatal("missing marker accepted")
	}
}
