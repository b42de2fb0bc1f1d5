// One lab value over time: an SVG line with its reference range shaded (people read a trend faster than a table),
// and the same values in a table for exact reading and for screen readers.
import type { LabSeries } from "./observations.ts";

const WIDTH = 560;
const HEIGHT = 180;
const PAD = { left: 48, right: 16, top: 12, bottom: 28 };

const day = (time: Date) => time.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });

function outside(value: number, series: LabSeries): boolean {
  return (series.low !== undefined && value < series.low) || (series.high !== undefined && value > series.high);
}

export function LabChart(props: { series: LabSeries; id: string }) {
  const { series } = props;
  const values = series.points.map((point) => point.value);
  const bounds = [
    ...values,
    ...(series.low === undefined ? [] : [series.low]),
    ...(series.high === undefined ? [] : [series.high]),
  ];
  let min = Math.min(...bounds);
  let max = Math.max(...bounds);
  const margin = max === min ? Math.max(1, Math.abs(max) * 0.1) : (max - min) * 0.1;
  min -= margin;
  max += margin;
  const times = series.points.map((point) => point.time.getTime());
  const first = Math.min(...times);
  const last = Math.max(...times);
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (time: number) =>
    PAD.left + (last === first ? innerWidth / 2 : ((time - first) / (last - first)) * innerWidth);
  const y = (value: number) => PAD.top + (1 - (value - min) / (max - min)) * innerHeight;
  const titleId = `${props.id}-title`;
  const descId = `${props.id}-desc`;
  const rangeText =
    series.low !== undefined || series.high !== undefined
      ? `reference range ${series.low ?? "–"} to ${series.high ?? "–"} ${series.unit}`
      : "no reference range given";
  return (
    <figure class="lab-chart" data-testid="lab-chart" data-series={series.label}>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
        <title id={titleId}>{`${series.label} (${series.unit})`}</title>
        <desc
          id={descId}
        >{`${series.points.length} values from ${day(new Date(first))} to ${day(new Date(last))}; ${rangeText}.`}</desc>
        {series.low !== undefined && series.high !== undefined && (
          <rect
            class="range"
            data-testid="reference-range"
            x={PAD.left}
            width={innerWidth}
            y={y(series.high)}
            height={Math.max(0, y(series.low) - y(series.high))}
          />
        )}
        <line class="axis" x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={HEIGHT - PAD.bottom} />
        <line class="axis" x1={PAD.left} x2={WIDTH - PAD.right} y1={HEIGHT - PAD.bottom} y2={HEIGHT - PAD.bottom} />
        <text class="tick" x={PAD.left - 6} y={y(max - margin)} text-anchor="end" dominant-baseline="middle">
          {Number((max - margin).toPrecision(4))}
        </text>
        <text class="tick" x={PAD.left - 6} y={y(min + margin)} text-anchor="end" dominant-baseline="middle">
          {Number((min + margin).toPrecision(4))}
        </text>
        <text class="tick" x={x(first)} y={HEIGHT - 8} text-anchor={last === first ? "middle" : "start"}>
          {day(new Date(first))}
        </text>
        {last !== first && (
          <text class="tick" x={x(last)} y={HEIGHT - 8} text-anchor="end">
            {day(new Date(last))}
          </text>
        )}
        <polyline class="trend" points={series.points.map((p) => `${x(p.time.getTime())},${y(p.value)}`).join(" ")} />
        {series.points.map((point) => (
          <circle
            key={`${point.time.getTime()}-${point.value}`}
            class={outside(point.value, series) ? "point out-of-range" : "point"}
            data-testid="lab-point"
            data-value={String(point.value)}
            cx={x(point.time.getTime())}
            cy={y(point.value)}
            r={5}
          >
            <title>{`${point.value} ${point.unit} on ${day(point.time)}`}</title>
          </circle>
        ))}
      </svg>
      <figcaption>
        <strong>{series.label}</strong> ({series.unit}), {rangeText}.
      </figcaption>
      <details>
        <summary>Show the values</summary>
        <table>
          <caption class="visually-hidden">{`Values of ${series.label}`}</caption>
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Value</th>
              <th scope="col">In range</th>
            </tr>
          </thead>
          <tbody>
            {series.points.map((point) => (
              <tr key={`${point.time.getTime()}-${point.value}`}>
                <td>{day(point.time)}</td>
                <td>{`${point.value} ${point.unit}`}</td>
                <td>{outside(point.value, series) ? "outside the range" : "yes"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
