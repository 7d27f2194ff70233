fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t = std::time::Instant::now();
    println!("{} ({:?})", consort_cron::batch::answer(&args[1], &args[2], args[3].parse().unwrap()), t.elapsed());
}
