// One lab value over time: an SVG line with its reference range shaded (people read a trend faster than a table),
// and the same values in a table for exact reading and for screen readers.
import { chartPoints, type LabSeries } from "./observations.ts";

const WIDTH = 560;
const HEIGHT = 180;
const PAD = { left: 48, right: 16, top: 12, bottom: 28 };

const day = (time: Date) => time.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });

function outside(value: number, series: LabSeries): boolean {
  return (series.low !== undefined && value < series.low) || (series.high !== undefined && value > series.high);
}

/** The table lists this many of the latest values (all are in the record itself). */
const TABLE_ROWS = 50;

export function LabChart(props: { series: LabSeries; id: string }) {
  const { series } = props;
  const drawn = chartPoints(series.points);
  // A loop, not Math.min(...values): a spread of 100k+ arguments overflows the stack.
  let min = Infinity;
  let max = -Infinity;
  for (const bound of [series.low, series.high, ...drawn.map((point) => point.value)]) {
    if (bound === undefined) continue;
    min = Math.min(min, bound);
    max = Math.max(max, bound);
  }
  const margin = max === min ? Math.max(1, Math.abs(max) * 0.1) : (max - min) * 0.1;
  min -= margin;
  max += margin;
  const first = series.points[0]!.time.getTime();
  const last = series.points[series.points.length - 1]!.time.getTime();
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
        <polyline class="trend" points={drawn.map((p) => `${x(p.time.getTime())},${y(p.value)}`).join(" ")} />
        {drawn.map((point) => (
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
        <summary>
          {series.points.length > TABLE_ROWS
            ? `Show the latest ${TABLE_ROWS} of ${series.points.length} values`
            : "Show the values"}
        </summary>
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
            {series.points
              .slice(-TABLE_ROWS)
              .reverse()
              .map((point) => (
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
