package utp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/speedbt/btt/peer/utp"
)

// One socket per session port carries uTP connections both ways and hands everything
// else (the DHT's bencoded packets) to Unhandled.
func Example() {
	krpc := make(chan string, 1)
	server, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{
		Unhandled: func(b []byte, from net.Addr) { krpc <- string(b) }, // b is reused: copy
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()
	go func() {
		c, err := server.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo until the peer's FIN
	}()

	client, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, server.Addr().String())
	if err != nil {
		fmt.Println(err) // a session falls back to TCP here
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("hello over uTP"))
	_ = c.(*utp.Conn).CloseWrite()
	echo, _ := io.ReadAll(c)
	fmt.Println(string(echo))

	// The DHT shares the port: send from it with WriteTo, receive through Unhandled.
	_, _ = client.WriteTo([]byte("d1:y1:qe"), server.Addr())
	fmt.Println(<-krpc)
	// Output:
	// hello over uTP
	// d1:y1:qe
}
