// The wallet page's entry: Preact renders the shell at once; the SDK (ethers, libsodium) loads on "Connect wallet".
import { render } from "preact";
import { App } from "./app.tsx";
import "./style.css";

render(<App />, document.getElementById("app")!);
