// A Go client of the Inferno optimizer: asks Optimizer/Size for the largest request rate one
// replica carries within its TTFT and ITL targets, and prints the answer in proto3 JSON.
//
// The stubs are generated from proto/ (README.md beside this file); this file imports them as
// module inferno.example/gen/inferno/v1. Nothing generated is committed.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	inferno "inferno.example/gen/inferno/v1"
)

func main() {
	target := flag.String("target", "127.0.0.1:3302", "the optimizer's gRPC address")
	problem := flag.String("problem", "samples/problem.json", "a QueueRequest in proto3 JSON")
	token := flag.String("token", os.Getenv("INFERNO_TOKEN"), "bearer token, if the server wants one")
	flag.Parse()

	text, err := os.ReadFile(*problem)
	if err != nil {
		log.Fatal(err)
	}
	request := &inferno.QueueRequest{}
	if err := protojson.Unmarshal(text, request); err != nil {
		log.Fatalf("%s: %v", *problem, err)
	}

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}
	answer, err := inferno.NewOptimizerClient(conn).Size(ctx, request)
	if err != nil {
		log.Fatalf("Size: %v", err)
	}
	out, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(answer)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
}
