// The clinic page's entry: Preact renders the shell at once; the SDK loads on "Connect wallet".
import { render } from "preact";
import { ClinicApp } from "./app.tsx";
import "../style.css";

render(<ClinicApp />, document.getElementById("app")!);
