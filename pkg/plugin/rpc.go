package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The services are plain gRPC with one message type, a BytesValue holding a
// JSON document (the structs of contract.go), so plugin authors need no
// generated code and the contract reads in one file. Every call is control
// traffic: one per handshake message or per dial, never per packet.
const (
	cipherServiceName    = "meshnode.plugin.v1.Cipher"
	transportServiceName = "meshnode.plugin.v1.Transport"
)

// Method names.
const (
	methodInfo         = "Info"
	methodNewHandshake = "NewHandshake"
	methodWrite        = "WriteMessage"
	methodRead         = "ReadMessage"
	methodKeys         = "Keys"
	methodClose        = "CloseHandshake"
	methodDial         = "Dial"
)

// unary is a JSON-in, JSON-out method implementation.
type unary func(ctx context.Context, in []byte) ([]byte, error)

// handle adapts a typed method to unary.
func handle[Req, Rep any](fn func(context.Context, Req) (Rep, error)) unary {
	return func(ctx context.Context, in []byte) ([]byte, error) {
		var req Req
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad request: %v", err)
		}
		rep, err := fn(ctx, req)
		if err != nil {
			return nil, status.Error(codes.Unknown, err.Error())
		}
		return json.Marshal(rep)
	}
}

// serviceDesc describes a service whose methods are the given unary functions.
func serviceDesc(name string, methods map[string]unary) *grpc.ServiceDesc {
	sd := &grpc.ServiceDesc{ServiceName: name, HandlerType: (*any)(nil)}
	for m, fn := range methods {
		sd.Methods = append(sd.Methods, grpc.MethodDesc{
			MethodName: m,
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BytesValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				out, err := fn(ctx, in.Value)
				if err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(out), nil
			},
		})
	}
	return sd
}

// call invokes service/method with req and decodes the reply. Errors the
// plugin returned come back as their message, without gRPC's decoration.
func call[Rep any](ctx context.Context, cc *grpc.ClientConn, service, method string, req any) (Rep, error) {
	var rep Rep
	in, err := json.Marshal(req)
	if err != nil {
		return rep, err
	}
	out := new(wrapperspb.BytesValue)
	if err := cc.Invoke(ctx, "/"+service+"/"+method, wrapperspb.Bytes(in), out); err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unknown, codes.InvalidArgument:
				return rep, errors.New(st.Message())
			case codes.Unimplemented:
				return rep, fmt.Errorf("the plugin does not implement %s/%s: %s", service, method, st.Message())
			case codes.DeadlineExceeded, codes.Canceled:
				return rep, fmt.Errorf("no answer: %w", context.DeadlineExceeded)
			}
			return rep, fmt.Errorf("%s: %s", st.Code(), st.Message())
		}
		return rep, err
	}
	if err := json.Unmarshal(out.Value, &rep); err != nil {
		return rep, fmt.Errorf("bad reply to %s: %w", method, err)
	}
	return rep, nil
}

// grpcPlugin is the go-plugin glue for both kinds: on the plugin side it
// registers the service, on the node side it hands out the connection.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	desc *grpc.ServiceDesc // plugin side only
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.desc == nil {
		return errors.New("no service to serve")
	}
	s.RegisterService(p.desc, struct{}{})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}
