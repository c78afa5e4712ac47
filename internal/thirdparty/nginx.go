package thirdparty

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Nginx is a running nginx serving a directory (Debian's nginx-light): a real HTTP server
// with range requests, for BEP 19 web seed tests.
type Nginx struct {
	p    *proc
	addr string
}

// StartNginx serves root at http://listen/ (listen is "IP:PORT"), the same files under
// /redir/ as 302 redirects to their real place, and under /slow/ at 256 KiB/s per request
// (so a web seed shares a download with faster peers). It runs in the
// foreground with its pid, logs and temporary files in a test directory; cleanup stops it.
func StartNginx(t testing.TB, listen, root string) *Nginx {
	t.Helper()
	bin := needTool(t, "nginx")
	needIsolatedNet(t)
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		// Workers would drop to nobody, who cannot read test temporary directories (0700).
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log stderr info;
events { worker_connections 64; }
http {
	access_log %[2]s/access.log;
	default_type application/octet-stream;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen %[3]s;
		root %[4]s;
		location /redir/ { rewrite ^/redir/(.*)$ /$1 redirect; }
		location /slow/ { rewrite ^/slow/(.*)$ /$1 break; limit_rate 256k; }
	}
}
`, user, dir, listen, root)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{addr: listen}
	n.p = startProc(t, "nginx", dir, exec.Command(bin, "-p", dir, "-c", path, "-e", "stderr"), false)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := waitListen(ctx, n.p, listen); err != nil {
		t.Fatal(err)
	}
	return n
}

// URL is the server's base URL, "http://IP:PORT/".
func (n *Nginx) URL() string { return "http://" + n.addr + "/" }

// AccessLog returns nginx's access log so far (one line per request).
func (n *Nginx) AccessLog(t testing.TB) string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(n.p.logPath), "access.log"))
	return string(b)
}
