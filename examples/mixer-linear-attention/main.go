// Command mohawk-mixer-linear-attention serves the linear-attention mixer
// as a mohawk plugin.
package main

func main() {}
