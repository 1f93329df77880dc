//! Starts an embedded node on one core, sets and reads a key, stops.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = pinwheel_runtime::Node::builder().cores(1).start()?;
    let db = node.handle();
    db.call_blocking(&["SET", "outside", "yes"])?;
    println!("{:?}", db.call_blocking(&["GET", "outside"])?);
    node.shutdown();
    Ok(())
}
